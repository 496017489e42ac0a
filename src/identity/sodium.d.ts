// Minimal typings for the parts of sodium-native the router uses (the package ships none). Output
// buffers come first, as in libsodium; every function writes into caller-allocated buffers and throws
// on wrong buffer sizes, so callers check lengths before calling.

declare module 'sodium-native' {
  interface SodiumNative {
    crypto_sign_PUBLICKEYBYTES: number
    crypto_sign_SECRETKEYBYTES: number
    crypto_sign_SEEDBYTES: number
    crypto_sign_BYTES: number
    crypto_hash_sha256_BYTES: number
    crypto_box_PUBLICKEYBYTES: number
    crypto_box_SECRETKEYBYTES: number
    crypto_secretstream_xchacha20poly1305_ABYTES: number

    crypto_sign_keypair(publicKey: Uint8Array, secretKey: Uint8Array): void
    crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void
    crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void
    crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
    crypto_sign_ed25519_pk_to_curve25519(x25519Pk: Uint8Array, ed25519Pk: Uint8Array): void
    crypto_sign_ed25519_sk_to_curve25519(x25519Sk: Uint8Array, ed25519Sk: Uint8Array): void
    crypto_box_keypair(publicKey: Uint8Array, secretKey: Uint8Array): void
    crypto_scalarmult_base(publicKey: Uint8Array, secretKey: Uint8Array): void
    crypto_hash_sha256(out: Uint8Array, input: Uint8Array): void
    randombytes_buf(out: Uint8Array): void
    sodium_memzero(buf: Uint8Array): void
    sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean
  }
  const sodium: SodiumNative
  export = sodium
}
