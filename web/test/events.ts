// Event builders for the tests: the JSON the server sends (see src/acphost/events.py).
import type { AcpEvent } from "../src/types";

let seq = 0;

export function resetSeq(): void {
  seq = 0;
}

/** An event of ``kind``; ``fields`` are its own (loosely typed: tests build odd ones too). */
export function ev(kind: AcpEvent["kind"], fields: Record<string, unknown> = {}): AcpEvent {
  seq = typeof fields.seq === "number" ? fields.seq : seq + 1;
  return {
    seq,
    id: `id-${seq}`,
    ts: 1000 + seq,
    source: "agent",
    turn: 1,
    kind,
    ...fields,
  } as AcpEvent;
}

export function toolCall(
  id: string,
  status: string,
  extra: Record<string, unknown> = {},
): AcpEvent {
  return ev("tool_call", {
    tool_call_id: id,
    title: `call ${id}`,
    tool_kind: "edit",
    status,
    content: [],
    locations: [],
    raw_input: null,
    raw_output: null,
    ...extra,
  });
}
