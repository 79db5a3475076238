import { describe, expect, it } from "vitest";
import { REDACTED, REDACTION_RULES, redactExcerpt, redactLines, redactText } from "../../src/core/redact.js";
import {
  CONTROL_VALUES,
  CONTROLS,
  PLANTED,
  type PlantedSecret,
  SOURCES,
  windowsOf,
} from "./redaction-corpus.js";

/** Every planted secret (and every 12-character window of it) that survives in `out`. */
function leaks(out: string, planted: PlantedSecret): string[] {
  const found: string[] = [];
  for (const secret of planted.secrets) {
    if (out.includes(secret)) found.push(secret);
    else {
      const window = windowsOf(secret).find((w) => out.includes(w));
      if (window) found.push(`${secret} (window "${window}")`);
    }
  }
  return found;
}

describe("the redaction corpus", () => {
  it("plants at least 30 provider shapes and the generic assignment forms", () => {
    const providerShapes = new Set(PLANTED.filter((p) => !p.id.startsWith("generic-")).map((p) => p.id));
    expect(providerShapes.size).toBeGreaterThanOrEqual(30);
    expect(PLANTED.filter((p) => p.id.startsWith("generic-")).length).toBeGreaterThanOrEqual(15);
    expect(REDACTION_RULES.length).toBeGreaterThanOrEqual(50);
    expect(SOURCES.length).toBeGreaterThanOrEqual(7);
  });

  it("each planted text holds its secrets before redaction (the corpus tests something)", () => {
    for (const planted of PLANTED) {
      for (const secret of planted.secrets) expect(planted.text, planted.id).toContain(secret);
    }
  });

  describe.each(SOURCES.map((s) => [s.kind, s] as const))("planted in %s", (_kind, source) => {
    it("no planted secret survives, not even 12 characters of one", () => {
      const failures: string[] = [];
      for (const planted of PLANTED) {
        const input = source.render(planted.text);
        // The source's own encoding (JSON escaping) must still carry the secret before redaction.
        for (const secret of planted.secrets)
          expect(input, `${planted.id} in ${source.kind}`).toContain(secret);
        const out = redactText(input);
        const found = leaks(out, planted);
        if (found.length) failures.push(`${planted.id}: ${found.join(", ")}`);
        else if (!out.includes(REDACTED)) failures.push(`${planted.id}: nothing was marked redacted`);
      }
      expect(failures).toEqual([]);
    });

    it("every control value survives next to every planted secret", () => {
      const failures: string[] = [];
      for (const planted of PLANTED) {
        // A private key block without its END line is hidden to the end of the text, on
        // purpose: what follows it is not knowable as "not key".
        if (planted.id === "pem-without-end") continue;
        const input = source.render(planted.text);
        const out = redactText(input);
        for (const control of CONTROL_VALUES) {
          if (input.includes(control) && !out.includes(control))
            failures.push(`${planted.id}: lost "${control}"`);
        }
      }
      expect(failures).toEqual([]);
    });

    it("the source with controls only comes through byte for byte", () => {
      const input = source.render(CONTROLS.prose[0] as string);
      expect(redactText(input)).toBe(input);
    });
  });

  it("controls on their own, one per line and all together, are unchanged", () => {
    for (const control of CONTROL_VALUES) expect(redactText(control)).toBe(control);
    const all = CONTROL_VALUES.join("\n");
    expect(redactText(all)).toBe(all);
    expect(redactLines([...CONTROL_VALUES])).toEqual([...CONTROL_VALUES]);
  });

  it("the whole corpus as one text: nothing survives", () => {
    const everything = PLANTED.map((p) => p.text).join("\n");
    const out = redactText(everything);
    const failures = PLANTED.flatMap((p) => leaks(out, p).map((l) => `${p.id}: ${l}`));
    expect(failures).toEqual([]);
  });
});

describe("redaction across line and event boundaries", () => {
  const pem = PLANTED.find((p) => p.id === "pem-rsa") as PlantedSecret;
  const cut = PLANTED.find((p) => p.id === "pem-without-end") as PlantedSecret;
  const base64Line = /^[A-Za-z0-9+/=]{8,}$/;

  it("a PEM block split over 3 log events: every piece is redacted, no base64 body line is left", () => {
    const lines = pem.text.split("\n");
    const events = [lines.slice(0, 3).join("\n"), lines.slice(3, 6).join("\n"), lines.slice(6).join("\n")];
    const out = redactLines(events);
    expect(out).toHaveLength(3);
    for (const [i, piece] of out.entries()) {
      expect(piece, `event ${i}`).toContain(REDACTED);
      for (const line of piece.split("\n")) expect(line).not.toMatch(base64Line);
    }
    expect(leaks(out.join("\n"), pem)).toEqual([]);
  });

  it("a PEM block one line per event, between ordinary lines: the ordinary lines are unchanged", () => {
    const lines = ["INFO loading signing key", ...pem.text.split("\n"), "INFO started in 120 ms"];
    const out = redactLines(lines);
    expect(out).toHaveLength(lines.length);
    expect(out[0]).toBe(lines[0]);
    expect(out[out.length - 1]).toBe(lines[lines.length - 1]);
    for (const line of out.slice(1, -1)) expect(line).toBe(REDACTED);
  });

  it("a PEM block without its END line, split over 3 lines: redacted from BEGIN to the end", () => {
    const lines = cut.text.split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const out = redactLines(lines);
    expect(out).toEqual(lines.map(() => REDACTED));
  });

  it("the tail of a PEM block whose BEGIN line was cut off (an output tail) is redacted", () => {
    const tail = pem.text.split("\n").slice(3).join("\n");
    const out = redactText(`...output truncated...\n${tail}\nexit status 1`);
    expect(leaks(out, pem)).toEqual([]);
    expect(out).toContain("exit status 1");
  });

  it("an Authorization header and its token in separate events stay joined for redaction", () => {
    const secret = PLANTED.find((p) => p.id === "authorization-bearer") as PlantedSecret;
    const out = redactLines(["request headers:", secret.text, "status 401"]);
    expect(out[0]).toBe("request headers:");
    expect(out[2]).toBe("status 401");
    expect(leaks(out.join("\n"), secret)).toEqual([]);
  });

  it("lines that themselves contain line breaks come back one string per input line", () => {
    const lines = ["a\nb", pem.text, "c", "", "d\n"];
    const out = redactLines(lines);
    expect(out).toHaveLength(lines.length);
    expect(out[0]).toBe("a\nb");
    expect(out[2]).toBe("c");
    expect(out[3]).toBe("");
    expect(out[4]).toBe("d\n");
    expect(leaks(out.join("\n"), pem)).toEqual([]);
  });

  it("redactExcerpt redacts the whole text before it cuts", () => {
    const aws = PLANTED.find((p) => p.id === "aws-secret-neutral-name") as PlantedSecret;
    const key = aws.secrets[0] as string;
    const body = `${"x".repeat(150)} found ${key} and more text after it`;
    const limit = body.indexOf(key) + key.length - 1; // the cut falls inside the key
    const excerpt = redactExcerpt(body, limit);
    expect(excerpt.length).toBeLessThanOrEqual(limit + 1);
    expect(leaks(excerpt, aws)).toEqual([]);
    // Cutting first and redacting after leaks 39 of the key's 40 characters.
    expect(leaks(redactText(body.slice(0, limit)), aws).length).toBeGreaterThan(0);
    // The same for a PEM block: hidden whatever the cut.
    const truncated = redactExcerpt(`${"x".repeat(150)} ${cut.text}`, 200);
    expect(leaks(truncated, cut)).toEqual([]);
    // A cut never leaves half a marker.
    const text = `${"y".repeat(190)} password=hunter2-hunter2`;
    const markerAt = redactText(text).indexOf(REDACTED);
    expect(redactExcerpt(text, markerAt + 4)).toBe(`${"y".repeat(190)} password=…`);
    expect(redactExcerpt(text, markerAt + REDACTED.length)).toBe(`${"y".repeat(190)} password=${REDACTED}`);
  });
});
