/**
 * The CMU Pronouncing Dictionary as (graphemes, phonemes) pairs. Lines are `WORD  PH1 PH2 ...`
 * (two spaces); alternative pronunciations (`WORD(1)`) and words with anything but letters and
 * apostrophes (abbreviations, numbers, punctuation entries) are left out. Phonemes keep their
 * stress digits (AH0, EY1), as CMUdict G2P results are usually reported. Words or pronunciations
 * longer than `maxLength` (16 keeps 99.9% of entries) are left out: batches are padded to the
 * longest entry, and the last 0.1% would double every step's work.
 */
export interface G2pEntry {
  word: string;
  phonemes: string[];
}

export function parseCmudict(text: string, maxLength = 16): G2pEntry[] {
  const out: G2pEntry[] = [];
  for (const line of text.split('\n')) {
    const at = line.indexOf('  ');
    if (at <= 0 || line.startsWith(';;;')) continue;
    const word = line.slice(0, at);
    if (!/^[A-Z][A-Z']*$/.test(word)) continue;
    const phonemes = line
      .slice(at + 2)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    if (phonemes.length === 0 || word.length > maxLength || phonemes.length > maxLength) continue;
    out.push({ word: word.toLowerCase(), phonemes });
  }
  return out;
}
