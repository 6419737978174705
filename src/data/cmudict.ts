/**
 * The CMU Pronouncing Dictionary as (graphemes, phonemes) pairs. Lines are `WORD  PH1 PH2 ...`
 * (two spaces); alternative pronunciations (`WORD(1)`) and words with anything but letters and
 * apostrophes (abbreviations, numbers, punctuation entries) are left out. Phonemes keep their
 * stress digits (AH0, EY1), as CMUdict G2P results are usually reported.
 */
export interface G2pEntry {
  word: string;
  phonemes: string[];
}

export function parseCmudict(text: string, maxLength = 32): G2pEntry[] {
  const out: G2pEntry[] = [];
  for (const line of text.split('\n')) {
    const at = line.indexOf('  ');
    if (at <= 0 || line.startsWith(';;;')) continue;
    const word = line.slice(0, at);
    if (!/^[A-Z][A-Z']*$/.test(word)) continue;
    const phonemes = line.slice(at + 2).trim().split(/\s+/).filter(Boolean);
    if (phonemes.length === 0 || word.length > maxLength || phonemes.length > maxLength) continue;
    out.push({ word: word.toLowerCase(), phonemes });
  }
  return out;
}
