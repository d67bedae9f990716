/** Document formats as the gateway names them, and their media types in both directions. */

export const FORMATS = ['json', 'yaml', 'properties', 'text'] as const;
export type Format = (typeof FORMATS)[number];

const MEDIA_TYPES: Readonly<Record<Format, string>> = {
  json: 'application/json',
  yaml: 'application/yaml',
  properties: 'text/x-java-properties',
  text: 'text/plain',
};

/** The Content-Type to publish a document of `format` with (documents are UTF-8 only). */
export function contentTypeOf(format: Format): string {
  return `${MEDIA_TYPES[format]}; charset=utf-8`;
}

/** The format a document was served as, from its Content-Type. */
export function formatOf(contentType: string | null): Format {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (media === 'application/json' || media.endsWith('+json')) return 'json';
  if (media.includes('yaml')) return 'yaml';
  if (media.includes('properties')) return 'properties';
  return 'text';
}

/** A file's format from its extension, `undefined` when it does not say. */
export function formatOfFile(path: string): Format | undefined {
  const extension = /\.([A-Za-z]+)$/.exec(path)?.[1]?.toLowerCase();
  if (extension === 'json') return 'json';
  if (extension === 'yaml' || extension === 'yml') return 'yaml';
  if (extension === 'properties') return 'properties';
  if (extension === 'txt') return 'text';
  return undefined;
}

export function isFormat(value: string): value is Format {
  return (FORMATS as readonly string[]).includes(value);
}
