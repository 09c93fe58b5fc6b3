/** Thrown by decodeChunk for any payload that is not a valid encoding of `rawLength` bytes.
 *  The container wraps it in a TzError that names the file and chunk. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}
