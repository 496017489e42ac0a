// Errors the local API returns. Every error leaves the daemon as JSON `{ "error": { "code", "message" } }`
// with a stable code the client and CLI can branch on; the HTTP status says which side is at fault.

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: unknown

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
  }

  static badJson(reason: string): ApiError {
    return new ApiError(400, 'BAD_JSON', `request body is not valid JSON: ${reason}`)
  }
  static invalid(message: string, details?: unknown): ApiError {
    return new ApiError(400, 'INVALID_REQUEST', message, details)
  }
  static unknownField(field: string): ApiError {
    return new ApiError(400, 'UNKNOWN_FIELD', `unknown field "${field}" in request body`)
  }
  static forbidden(message: string): ApiError {
    return new ApiError(403, 'FORBIDDEN', message)
  }
  static notFound(path: string): ApiError {
    return new ApiError(404, 'NOT_FOUND', `no such API route: ${path}`)
  }
  static methodNotAllowed(method: string, path: string, allowed: string[]): ApiError {
    return new ApiError(
      405,
      'METHOD_NOT_ALLOWED',
      `${method} is not allowed on ${path} (allowed: ${allowed.join(', ')})`,
      {
        allowed,
      },
    )
  }
  static conflict(code: string, message: string): ApiError {
    return new ApiError(409, code, message)
  }
  static tooLarge(limit: number): ApiError {
    return new ApiError(413, 'BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`)
  }
  static unsupportedMediaType(type: string): ApiError {
    return new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `content-type must be application/json, got "${type}"`)
  }
  static timeout(): ApiError {
    return new ApiError(408, 'REQUEST_TIMEOUT', 'request was not received completely in time')
  }
  static notImplemented(capability: string): ApiError {
    return new ApiError(501, 'NOT_IMPLEMENTED', `this daemon does not have ${capability} yet`, { capability })
  }
  static unavailable(code: string, message: string): ApiError {
    return new ApiError(503, code, message)
  }
}
