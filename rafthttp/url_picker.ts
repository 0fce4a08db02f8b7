/**
 * Picks which of a peer's URLs to use; a failure moves on to the next (etcd urlpick.go).
 *
 * @module
 */

/** The URL in use for one peer, rotated on failure. */
export class UrlPicker {
  #urls: string[];
  #picked = 0;

  constructor(urls: readonly string[]) {
    if (urls.length === 0) throw new Error("a peer needs at least one URL");
    this.#urls = urls.map(_trimSlash);
  }

  /** Replaces the URLs (a member update) and starts again from the first. */
  update(urls: readonly string[]): void {
    if (urls.length === 0) throw new Error("a peer needs at least one URL");
    this.#urls = urls.map(_trimSlash);
    this.#picked = 0;
  }

  /** The URL to use now, without a trailing slash. */
  pick(): string {
    return this.#urls[this.#picked]!;
  }

  /** Marks `url` as failing: when it is the picked one, the next one is picked. */
  unreachable(url: string): void {
    if (this.#urls[this.#picked] === url) this.#picked = (this.#picked + 1) % this.#urls.length;
  }
}

function _trimSlash(url: string): string {
  return url.endsWith("/") ? url.slice(0, -1) : url;
}
