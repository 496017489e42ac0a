// The wire layer's public surface: bounded binary encoding, strict text forms of bytes, typed errors.
// Pure: no Node I/O and no Buffer dependency, so protocols and the simulator can use it anywhere.

export { bytesEqualAt } from './bytes.js'
export { arrayCodec, type Codec, decodeWith, encodeWith } from './codec.js'
export { DecodeError, type DecodeReason, EncodeError, isDecodeError } from './errors.js'
export { formatIpv6 } from './ip.js'
export { Reader } from './reader.js'
export {
  base32Decode,
  base32Encode,
  base64urlDecode,
  base64urlEncode,
  hexDecode,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from './text.js'
export { DEFAULT_MAX_LENGTH, MAX_VARINT, varintLength, Writer } from './writer.js'
