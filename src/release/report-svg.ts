import { timelineOf } from "./report.js";
import type { ReleaseRecord } from "./types.js";

/**
 * The release timeline as a standalone SVG: one bar per journal phase on a time axis, with
 * its duration. Drawn by hand (no browser, no chart library): a few rectangles and labels.
 */

const WIDTH = 760;
const LABEL = 110;
const ROW = 26;
const TOP = 44;
const COLORS: Record<string, string> = {
  locked: "#94a3b8",
  preparing: "#60a5fa",
  uploading: "#3b82f6",
  switching: "#f59e0b",
  switched: "#f59e0b",
  verifying: "#10b981",
  undoing: "#ef4444",
  finishing: "#64748b",
  release: "#3b82f6",
};
const STATUS_COLORS: Record<string, string> = {
  succeeded: "#059669",
  failed: "#dc2626",
  rolled_back: "#d97706",
  recovered: "#7c3aed",
  in_progress: "#2563eb",
};

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function renderTimelineSvg(record: ReleaseRecord): string {
  const spans = timelineOf(record);
  const start = spans[0]?.startMs ?? 0;
  const end = Math.max(start + 1, ...spans.map((s) => s.endMs));
  const scale = (WIDTH - LABEL - 90) / (end - start);
  const height = TOP + Math.max(1, spans.length) * ROW + 36;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="20" font-size="14" font-weight="600">${escapeXml(`${record.component} on ${record.env}: release ${record.releaseId}`)}</text>`,
    `<text x="${WIDTH - 12}" y="20" text-anchor="end" font-weight="600" fill="${STATUS_COLORS[record.status] ?? "#334155"}">${escapeXml(record.status)}</text>`,
  ];
  for (const [index, span] of spans.entries()) {
    const y = TOP + index * ROW;
    const x = LABEL + (span.startMs - start) * scale;
    const width = Math.max(2, (span.endMs - span.startMs) * scale);
    parts.push(
      `<text x="12" y="${y + 15}" fill="#334155">${escapeXml(span.name)}</text>`,
      `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${width.toFixed(1)}" height="${ROW - 8}" rx="3" fill="${COLORS[span.name] ?? "#3b82f6"}"><title>${escapeXml(`${span.name}: ${seconds(span.endMs - span.startMs)}`)}</title></rect>`,
      `<text x="${(x + width + 6).toFixed(1)}" y="${y + 15}" fill="#475569">${escapeXml(seconds(span.endMs - span.startMs))}</text>`,
    );
  }
  const axisY = TOP + Math.max(1, spans.length) * ROW + 8;
  parts.push(`<line x1="${LABEL}" y1="${axisY}" x2="${WIDTH - 90}" y2="${axisY}" stroke="#cbd5e1"/>`);
  for (let tick = 0; tick <= 4; tick++) {
    const x = LABEL + ((WIDTH - LABEL - 90) * tick) / 4;
    parts.push(
      `<text x="${x.toFixed(1)}" y="${axisY + 16}" text-anchor="middle" fill="#64748b">${escapeXml(seconds(((end - start) * tick) / 4))}</text>`,
    );
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
