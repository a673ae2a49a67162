// A user agent made of fetch: a cookie jar (per host, like a browser's), manual redirects and
// HTML forms submitted by id. Tests use it to play the user at the test OpenID provider and to
// replay or alter what a browser would send to Paved.

export interface Page {
  url: URL;
  status: number;
  body: string;
  /** Set when `stopAt` stopped a redirect chain: the URL the browser was about to load. */
  stoppedAt?: URL;
}

export class FormBrowser {
  private readonly jar = new Map<string, Map<string, { value: string; path: string }>>();

  /** One request, with this browser's cookies; stores the cookies the answer sets. */
  async request(url: URL, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    const cookie = this.cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    if (init.body !== undefined) headers["content-type"] ??= "application/x-www-form-urlencoded";
    const response = await fetch(url, { method: init.method ?? "GET", body: init.body, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) this.store(url, line);
    return response;
  }

  /** Loads a URL and follows redirects; `stopAt` ends the chain before a URL is loaded (e.g. Paved's callback). */
  async open(start: URL | string, init: { method?: string; body?: string } = {}, stopAt?: (url: URL) => boolean): Promise<Page> {
    let url = new URL(start);
    let request = init;
    for (let hop = 0; hop < 20; hop++) {
      const response = await this.request(url, request);
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        const next = new URL(location, url);
        if (stopAt?.(next)) return { url, status: response.status, body: "", stoppedAt: next };
        url = next;
        request = {};
        continue;
      }
      return { url, status: response.status, body: await response.text() };
    }
    throw new Error(`more than 20 redirects from ${String(start)}`);
  }

  /** Submits the form with this id (the first form for "") with its hidden inputs plus `fields`, and follows the answer. */
  async submit(page: Page, formId: string, fields: Record<string, string> = {}, stopAt?: (url: URL) => boolean): Promise<Page> {
    const pattern = formId === "" ? "<form[^>]*>([\\s\\S]*?)</form>" : `<form[^>]*id="?${formId.replace(/\./g, "\\.")}"?[^>]*>([\\s\\S]*?)</form>`;
    const form = page.body.match(new RegExp(pattern));
    if (!form) throw new Error(`no form '${formId}' on ${page.url.href}:\n${page.body.slice(0, 2000)}`);
    const action = form[0].match(/action="([^"]*)"/)?.[1] ?? page.url.href;
    const values = new URLSearchParams();
    for (const input of form[1]!.matchAll(/<input[^>]*>/g)) {
      const name = input[0].match(/name="?([^"\s>]+)"?/)?.[1];
      const value = input[0].match(/value="([^"]*)"/)?.[1];
      if (name && value !== undefined && /type="?hidden"?/.test(input[0])) values.set(name, value.replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c))));
    }
    for (const [k, v] of Object.entries(fields)) values.set(k, v);
    return this.open(new URL(action.replace(/&amp;/g, "&"), page.url), { method: "POST", body: values.toString() }, stopAt);
  }

  cookie(host: string, name: string): string | undefined {
    return this.jar.get(host)?.get(name)?.value;
  }

  setCookie(host: string, name: string, value: string, path = "/"): void {
    let cookies = this.jar.get(host);
    if (!cookies) this.jar.set(host, (cookies = new Map()));
    cookies.set(name, { value, path });
  }

  private cookieHeader(url: URL): string {
    const cookies = this.jar.get(url.hostname);
    if (!cookies) return "";
    return [...cookies]
      .filter(([, c]) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map(([name, c]) => `${name}=${c.value}`)
      .join("; ");
  }

  private store(url: URL, line: string): void {
    const [pair, ...attributes] = line.split(";").map((s) => s.trim());
    const eq = pair!.indexOf("=");
    const name = pair!.slice(0, eq);
    const value = pair!.slice(eq + 1);
    let path = "/";
    let expired = false;
    for (const attribute of attributes) {
      const [key, val] = attribute.split("=");
      if (key!.toLowerCase() === "path" && val) path = val;
      if (key!.toLowerCase() === "max-age" && Number(val) <= 0) expired = true;
      if (key!.toLowerCase() === "expires" && val && Date.parse(val) < Date.now()) expired = true;
    }
    let cookies = this.jar.get(url.hostname);
    if (!cookies) this.jar.set(url.hostname, (cookies = new Map()));
    if (expired || value === "") cookies.delete(name);
    else cookies.set(name, { value, path });
  }
}
