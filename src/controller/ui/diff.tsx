/** A line diff of two texts, as a table screen readers can follow (each line says added/removed). */
import { diffLines } from 'diff';

interface DiffProps {
  readonly before: string;
  readonly after: string;
  readonly beforeLabel: string;
  readonly afterLabel: string;
}

export function Diff({ before, after, beforeLabel, afterLabel }: DiffProps) {
  const parts = diffLines(before, after);
  const rows: { kind: 'same' | 'add' | 'del'; text: string }[] = [];
  for (const part of parts) {
    const kind = part.added ? 'add' : part.removed ? 'del' : 'same';
    const lines = part.value.replace(/\n$/, '').split('\n');
    for (const text of lines) rows.push({ kind, text });
  }
  const changed = parts.some((p) => p.added || p.removed);
  return (
    <figure class="diff">
      <figcaption>
        <span class="del-label">− {beforeLabel}</span> <span class="add-label">+ {afterLabel}</span>
        {!changed && <span class="muted"> (no difference)</span>}
      </figcaption>
      <pre aria-label={`changes from ${beforeLabel} to ${afterLabel}`}>
        {rows.map((row, i) => (
          <div key={i} class={`line ${row.kind}`} data-kind={row.kind}>
            <span
              class="mark"
              aria-label={row.kind === 'add' ? 'added' : row.kind === 'del' ? 'removed' : undefined}
            >
              {row.kind === 'add' ? '+' : row.kind === 'del' ? '−' : ' '}
            </span>
            {row.text}
          </div>
        ))}
      </pre>
    </figure>
  );
}
