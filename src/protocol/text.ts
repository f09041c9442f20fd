/**
 * UTF-8 conversions that never lose bytes silently.
 *
 * @module
 */

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the string, so decoding then encoding gives the same bytes.
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Encodes a string as UTF-8. */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, replacing invalid sequences with U+FFFD: for display only. */
export function utf8Decode(bytes: Uint8Array): string {
  return lenientDecoder.decode(bytes);
}

/**
 * Decodes UTF-8 only when it round-trips: returns `undefined` when the bytes are not valid UTF-8,
 * so the caller can keep the bytes instead.
 */
export function utf8Exact(bytes: Uint8Array): string | undefined {
  // ASCII is by far the common case and needs neither the decoder's call cost nor its checks.
  if (bytes.length < 64) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}
