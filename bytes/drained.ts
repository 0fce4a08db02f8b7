/**
 * Back-pressure on a node byte stream: the peer client's request bodies, the verifying TLS
 * listener's response bodies and the HTTP/1 gateway's chunked replies wait here when `write()`
 * says the buffer is full.
 *
 * @module
 */

/** The two methods of a node `EventEmitter` that {@link drained} uses. */
export interface DrainableStream {
  once(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}

/**
 * Resolves when `stream` can take more data or has closed, whichever comes first, and removes
 * both listeners either way so that a long-lived stream does not collect them.
 */
export function drained(stream: DrainableStream): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.once("drain", done);
    stream.once("close", done);
  });
}
