/**
 * Atomic models from PDB and mmCIF files: atoms of the first model (altloc blank or A, waters skipped unless
 * asked for) and the operators of biological assembly 1 (PDB REMARK 350 BIOMT, mmCIF
 * _pdbx_struct_assembly_gen / _pdbx_struct_oper_list). Errors name the file and line.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { isElement, normaliseElement } from '../core/elements.ts';
import type { AtomPosition } from '../core/elements.ts';

/** `element` is the canonical symbol, e.g. 'C', 'Fe'. */
export interface Atom extends AtomPosition {
  name: string;
  resName: string;
  /** The chain id assembly records refer to: author chain (PDB) or label_asym_id (mmCIF). */
  chain: string;
}

/**
 * Operators of one assembly part. Each operator is a row-major 3×4 matrix [R | t] (12 numbers, Å) mapping
 * x → R·x + t, applied to the atoms of `chains`.
 */
export interface AssemblyPart {
  chains: string[];
  operators: Float64Array[];
}

export interface Structure {
  source: string;
  atoms: Atom[];
  /** Biological assembly 1; empty when the file declares none (the atoms are then the whole assembly). */
  assembly: AssemblyPart[];
}

export interface StructureOptions {
  /** Keep water molecules (HOH, WAT, DOD, …). Default false: crystallographic waters are not part of a particle. */
  waters?: boolean;
}

const WATER_NAMES = new Set(['HOH', 'WAT', 'DOD', 'H2O', 'TIP', 'TIP3', 'SOL']);

/** Reads a .pdb / .ent / .cif / .mmcif file (optionally .gz), choosing the parser by name or content. */
export function readStructure(path: string, opts: StructureOptions = {}): Structure {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read atomic model ${path}: ${(err as Error).message}`);
  }
  const plain = path.toLowerCase().endsWith('.gz') ? gunzipSync(bytes) : bytes;
  const text = plain.toString('utf8');
  const name = path.toLowerCase().replace(/\.gz$/, '');
  const isCif = name.endsWith('.cif') || name.endsWith('.mmcif') || /^\s*data_/.test(text);
  return isCif ? parseMmcif(text, path, opts) : parsePdb(text, path, opts);
}

/** Atoms of the biological assembly: every operator applied to the atoms of its chains (input order kept). */
export function buildAssembly(s: Structure): Atom[] {
  if (s.assembly.length === 0) return s.atoms;
  const out: Atom[] = [];
  for (const part of s.assembly) {
    const chains = new Set(part.chains);
    for (const m of part.operators) {
      for (const a of s.atoms) {
        if (!chains.has(a.chain)) continue;
        out.push({
          ...a,
          x: m[0] * a.x + m[1] * a.y + m[2] * a.z + m[3],
          y: m[4] * a.x + m[5] * a.y + m[6] * a.z + m[7],
          z: m[8] * a.x + m[9] * a.y + m[10] * a.z + m[11],
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- PDB

export function parsePdb(text: string, source: string, opts: StructureOptions = {}): Structure {
  if (text.trim() === '') throw new Error(`${source}: the file is empty`);
  const lines = text.split(/\r?\n/);
  const atoms: Atom[] = [];
  const biomt = new BiomtReader(source);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const record = line.slice(0, 6);
    if (record === 'ENDMDL') break; // first model only
    if (record.startsWith('REMARK') && line.slice(7, 10) === '350') biomt.read(line, i + 1);
    else if (record === 'ATOM  ' || record === 'HETATM') {
      const atom = parseAtomRecord(line, source, i + 1);
      if (atom && (opts.waters || !WATER_NAMES.has(atom.resName))) atoms.push(atom);
    }
  }
  if (atoms.length === 0) throw new Error(`${source}: no ATOM/HETATM records found — is this a PDB file?`);
  return { source, atoms, assembly: biomt.finish() };
}

function parseAtomRecord(line: string, source: string, lineNo: number): Atom | null {
  const where = `${source}:${lineNo}`;
  if (line.length < 54) throw new Error(`${where}: ${line.slice(0, 6).trim()} record is truncated (needs columns 1–54 with x, y, z)`);
  const altLoc = line[16];
  if (altLoc !== ' ' && altLoc !== 'A') return null;
  const coord = (from: number, to: number, axis: string): number => {
    const field = line.slice(from, to);
    const v = Number(field);
    if (field.trim() === '' || !Number.isFinite(v)) {
      throw new Error(`${where}: cannot read the ${axis} coordinate (columns ${from + 1}–${to}: '${field}')`);
    }
    return v;
  };
  const x = coord(30, 38, 'x');
  const y = coord(38, 46, 'y');
  const z = coord(46, 54, 'z');
  const name4 = line.slice(12, 16).padEnd(4);
  const resName = line.slice(17, 20).trim();
  const hetero = line.startsWith('HETATM');
  const symbolField = line.slice(76, 78).trim();
  let element: string | undefined;
  if (symbolField !== '') {
    element = normaliseElement(symbolField);
    if (!element) throw new Error(`${where}: unknown element '${symbolField}' (columns 77–78)`);
  } else {
    element = elementFromPdbAtomName(name4, resName, hetero);
    if (!element) throw new Error(`${where}: no element symbol and none can be read from atom name '${name4.trim()}'`);
  }
  return { x, y, z, element, name: name4.trim(), resName, chain: line[21] ?? ' ' };
}

/**
 * PDB atom names put the element right-justified in columns 13–14: ' CA ' is carbon, 'CA  ' calcium.
 * Four-character hydrogen names (HG21) also start in column 13, so an H there is hydrogen unless the
 * residue is a single-atom ion like HG.
 */
function elementFromPdbAtomName(name4: string, resName: string, hetero: boolean): string | undefined {
  const c0 = name4[0];
  const c1 = name4[1];
  if (c0 === ' ' || /[0-9]/.test(c0)) return normaliseElement(c1);
  const two = c0 + c1;
  const ion = hetero && name4.trim() === resName;
  if (c0.toUpperCase() === 'H' && !ion && name4.trim().length === 4) return 'H';
  if (/^[A-Za-z]{2}$/.test(two) && isElement(two)) return normaliseElement(two);
  return normaliseElement(c0);
}

/** REMARK 350 of biomolecule 1: "APPLY THE FOLLOWING TO CHAINS: …" then BIOMT1/2/3 rows per operator. */
class BiomtReader {
  private biomolecule = 0;
  private readonly parts: AssemblyPart[] = [];
  private current: AssemblyPart | null = null;
  private rows = new Map<number, { line: number; values: (number[] | undefined)[] }>();

  constructor(private readonly source: string) {}

  read(line: string, lineNo: number): void {
    const body = line.slice(10).trim();
    const bio = /^BIOMOLECULE:\s*(\d+)/.exec(body);
    if (bio) {
      this.flushOperators();
      this.current = null;
      this.biomolecule = Number(bio[1]);
      return;
    }
    if (this.biomolecule !== 1) return;
    const apply = /^(?:APPLY THE FOLLOWING TO CHAINS|AND CHAINS):(.*)$/.exec(body);
    if (apply) {
      const chains = apply[1].split(',').map((c) => c.trim()).filter((c) => c !== '');
      if (body.startsWith('AND') && this.current && this.rows.size === 0) this.current.chains.push(...chains);
      else {
        this.flushOperators();
        this.current = { chains, operators: [] };
        this.parts.push(this.current);
      }
      return;
    }
    const m = /^BIOMT([123])\s+(.*)$/.exec(body);
    if (!m) return;
    const where = `${this.source}:${lineNo}`;
    const fields = m[2].trim().split(/\s+/).map(Number);
    if (fields.length < 5 || fields.some((v) => !Number.isFinite(v))) {
      throw new Error(`${where}: malformed REMARK 350 BIOMT${m[1]} line (expected: operator number, 3 matrix elements, translation)`);
    }
    if (!this.current) throw new Error(`${where}: BIOMT operator before any "APPLY THE FOLLOWING TO CHAINS" line`);
    const id = fields[0];
    let op = this.rows.get(id);
    if (!op) {
      op = { line: lineNo, values: [undefined, undefined, undefined] };
      this.rows.set(id, op);
    }
    op.values[Number(m[1]) - 1] = fields.slice(1, 5);
  }

  private flushOperators(): void {
    if (!this.current) return;
    for (const [id, op] of this.rows) {
      const missing = op.values.findIndex((v) => v === undefined);
      if (missing >= 0) throw new Error(`${this.source}:${op.line}: REMARK 350 operator ${id} has no BIOMT${missing + 1} row`);
      this.current.operators.push(Float64Array.from(op.values.flatMap((v) => v as number[])));
    }
    this.rows = new Map();
  }

  finish(): AssemblyPart[] {
    this.flushOperators();
    return this.parts.filter((p) => p.operators.length > 0);
  }
}

// -------------------------------------------------------------------------------------------------- mmCIF

interface CifToken {
  text: string;
  line: number;
  /** '?' or '.' written unquoted: a missing value. */
  missing: boolean;
}

interface CifCategory {
  items: string[];
  rows: CifToken[][];
}

export function parseMmcif(text: string, source: string, opts: StructureOptions = {}): Structure {
  if (text.trim() === '') throw new Error(`${source}: the file is empty`);
  const cats = readCifBlock(text, source);
  const site = cats.get('_atom_site');
  if (!site) throw new Error(`${source}: no _atom_site category — is this an mmCIF coordinate file?`);
  const col = (name: string): number => site.items.indexOf(name);
  const need = (name: string): number => {
    const c = col(name);
    if (c < 0) throw new Error(`${source}: _atom_site has no ${name} column`);
    return c;
  };
  const cx = need('Cartn_x');
  const cy = need('Cartn_y');
  const cz = need('Cartn_z');
  const cName = col('label_atom_id') >= 0 ? col('label_atom_id') : need('auth_atom_id');
  const cType = col('type_symbol');
  const cGroup = col('group_PDB');
  const cAlt = col('label_alt_id');
  const cRes = col('label_comp_id') >= 0 ? col('label_comp_id') : col('auth_comp_id');
  const cAsym = col('label_asym_id') >= 0 ? col('label_asym_id') : col('auth_asym_id');
  const cModel = col('pdbx_PDB_model_num');
  const value = (row: CifToken[], c: number): string => (c >= 0 && !row[c].missing ? row[c].text : '');
  const atoms: Atom[] = [];
  const firstModel = site.rows.length > 0 ? value(site.rows[0], cModel) : '';
  for (const row of site.rows) {
    if (value(row, cModel) !== firstModel) continue;
    const alt = value(row, cAlt);
    if (alt !== '' && alt !== 'A') continue;
    const resName = value(row, cRes);
    if (!opts.waters && WATER_NAMES.has(resName)) continue;
    const coord = (c: number, axis: string): number => {
      const v = Number(row[c].text);
      if (row[c].missing || !Number.isFinite(v)) throw new Error(`${source}:${row[c].line}: cannot read the ${axis} coordinate '${row[c].text}'`);
      return v;
    };
    const name = value(row, cName);
    const typeSymbol = value(row, cType);
    let element: string | undefined;
    if (typeSymbol !== '') {
      element = normaliseElement(typeSymbol);
      if (!element) throw new Error(`${source}:${row[cType].line}: unknown element '${typeSymbol}' (_atom_site.type_symbol)`);
    } else {
      element = elementFromCifAtomName(name, resName, value(row, cGroup) === 'HETATM');
      if (!element) throw new Error(`${source}:${row[cName].line}: no type_symbol and none can be read from atom name '${name}'`);
    }
    atoms.push({ x: coord(cx, 'x'), y: coord(cy, 'y'), z: coord(cz, 'z'), element, name, resName, chain: value(row, cAsym) });
  }
  if (atoms.length === 0) throw new Error(`${source}: _atom_site holds no usable atoms`);
  return { source, atoms, assembly: readCifAssembly(cats, source) };
}

/** Without column positions, a name is a two-letter element only for single-atom ions (FE in residue FE). */
function elementFromCifAtomName(name: string, resName: string, hetero: boolean): string | undefined {
  const letters = name.replace(/^[0-9]+/, '');
  if (hetero && name === resName && isElement(letters)) return normaliseElement(letters);
  return letters.length > 0 ? normaliseElement(letters[0]) : undefined;
}

function readCifAssembly(cats: Map<string, CifCategory>, source: string): AssemblyPart[] {
  const gen = cats.get('_pdbx_struct_assembly_gen');
  const operList = cats.get('_pdbx_struct_oper_list');
  if (!gen || !operList) return [];
  const operators = new Map<string, Float64Array>();
  const oi = (name: string): number => {
    const c = operList.items.indexOf(name);
    if (c < 0) throw new Error(`${source}: _pdbx_struct_oper_list has no ${name} column`);
    return c;
  };
  const cId = oi('id');
  const cells: number[] = [];
  for (let r = 1; r <= 3; r++) {
    for (let c = 1; c <= 3; c++) cells.push(oi(`matrix[${r}][${c}]`));
    cells.push(oi(`vector[${r}]`));
  }
  for (const row of operList.rows) {
    const m = Float64Array.from(cells, (c) => {
      const v = Number(row[c].text);
      if (row[c].missing || !Number.isFinite(v)) throw new Error(`${source}:${row[c].line}: malformed operator value '${row[c].text}'`);
      return v;
    });
    operators.set(row[cId].text, m);
  }
  const gi = (name: string): number => {
    const c = gen.items.indexOf(name);
    if (c < 0) throw new Error(`${source}: _pdbx_struct_assembly_gen has no ${name} column`);
    return c;
  };
  const cAssembly = gi('assembly_id');
  const cExpr = gi('oper_expression');
  const cAsyms = gi('asym_id_list');
  const first = gen.rows[0]?.[cAssembly].text;
  const parts: AssemblyPart[] = [];
  for (const row of gen.rows) {
    if (row[cAssembly].text !== first) continue;
    const ops = expandOperatorExpression(row[cExpr].text).map((ids) =>
      ids
        .map((id) => {
          const m = operators.get(id);
          if (!m) throw new Error(`${source}:${row[cExpr].line}: assembly operator '${id}' is not in _pdbx_struct_oper_list`);
          return m;
        })
        .reduce(composeAffine),
    );
    parts.push({ chains: row[cAsyms].text.split(',').map((c) => c.trim()), operators: ops });
  }
  return parts;
}

/** "1,2", "(1-60)", "(1-5)(6,7)" → operator id sequences; a product applies its rightmost operator first. */
function expandOperatorExpression(expr: string): string[][] {
  const groups = expr.includes('(') ? [...expr.matchAll(/\(([^)]*)\)/g)].map((g) => g[1]) : [expr];
  const lists = groups.map((g) =>
    g.split(',').flatMap((item) => {
      const range = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(item);
      if (!range) return [item.trim()];
      const ids: string[] = [];
      for (let i = Number(range[1]); i <= Number(range[2]); i++) ids.push(String(i));
      return ids;
    }),
  );
  return lists.reduce<string[][]>((acc, list) => acc.flatMap((prefix) => list.map((id) => [...prefix, id])), [[]]);
}

/** (a ∘ b)(x) = a(b(x)) for row-major 3×4 affine matrices. */
function composeAffine(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(12);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) {
      let s = c === 3 ? a[4 * r + 3] : 0;
      for (let k = 0; k < 3; k++) s += a[4 * r + k] * b[4 * k + c];
      out[4 * r + c] = s;
    }
  }
  return out;
}

/** Categories of the first data block: loops and single key–value items alike become rows of tokens. */
function readCifBlock(text: string, source: string): Map<string, CifCategory> {
  const tokens = tokeniseCif(text, source);
  const cats = new Map<string, CifCategory>();
  const split = (tag: string, line: number): [string, string] => {
    const dot = tag.indexOf('.');
    if (dot < 0) throw new Error(`${source}:${line}: tag '${tag}' has no category (expected _category.item)`);
    return [tag.slice(0, dot), tag.slice(dot + 1)];
  };
  let blocks = 0;
  let i = 0;
  const isKeyword = (t: CifToken): boolean => /^(data_|loop_|save_|global_|stop_)/i.test(t.text) || t.text.startsWith('_');
  while (i < tokens.length) {
    const t = tokens[i];
    if (/^data_/i.test(t.text)) {
      if (++blocks > 1) break;
      i++;
    } else if (/^loop_$/i.test(t.text)) {
      i++;
      const tags: string[] = [];
      while (i < tokens.length && tokens[i].text.startsWith('_')) tags.push(tokens[i++].text);
      if (tags.length === 0) throw new Error(`${source}:${t.line}: loop_ without tags`);
      const [cat] = split(tags[0], t.line);
      const items = tags.map((tag) => {
        const [c, item] = split(tag, t.line);
        if (c !== cat) throw new Error(`${source}:${t.line}: loop mixes categories ${cat} and ${c}`);
        return item;
      });
      const values: CifToken[] = [];
      while (i < tokens.length && !isKeyword(tokens[i])) values.push(tokens[i++]);
      if (values.length % items.length !== 0) {
        throw new Error(`${source}:${t.line}: loop of ${cat} has ${values.length} values, not a multiple of its ${items.length} columns`);
      }
      const rows: CifToken[][] = [];
      for (let r = 0; r < values.length; r += items.length) rows.push(values.slice(r, r + items.length));
      cats.set(cat, { items, rows });
    } else if (t.text.startsWith('_')) {
      const v = tokens[i + 1];
      if (!v || isKeyword(v)) throw new Error(`${source}:${t.line}: tag ${t.text} has no value`);
      const [cat, item] = split(t.text, t.line);
      let c = cats.get(cat);
      if (!c) {
        c = { items: [], rows: [[]] };
        cats.set(cat, c);
      }
      c.items.push(item);
      c.rows[0].push(v);
      i += 2;
    } else throw new Error(`${source}:${t.line}: unexpected value '${t.text}' outside a tag or loop`);
  }
  if (blocks === 0) throw new Error(`${source}: no data_ block — is this an mmCIF file?`);
  return cats;
}

function tokeniseCif(text: string, source: string): CifToken[] {
  const lines = text.split(/\r?\n/);
  const tokens: CifToken[] = [];
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li];
    if (line.startsWith(';')) {
      const start = li;
      const parts = [line.slice(1)];
      while (++li < lines.length && !lines[li].startsWith(';')) parts.push(lines[li]);
      if (li >= lines.length) throw new Error(`${source}:${start + 1}: text field opened with ';' is never closed`);
      tokens.push({ text: parts.join('\n'), line: start + 1, missing: false });
      continue;
    }
    let p = 0;
    while (p < line.length) {
      const ch = line[p];
      if (ch === ' ' || ch === '\t') {
        p++;
      } else if (ch === '#') {
        break;
      } else if (ch === "'" || ch === '"') {
        // a quote closes only when followed by whitespace or the end of the line
        let q = p + 1;
        while (q < line.length && !(line[q] === ch && (q + 1 === line.length || /\s/.test(line[q + 1])))) q++;
        if (q >= line.length) throw new Error(`${source}:${li + 1}: unterminated quoted value`);
        tokens.push({ text: line.slice(p + 1, q), line: li + 1, missing: false });
        p = q + 1;
      } else {
        let q = p;
        while (q < line.length && line[q] !== ' ' && line[q] !== '\t') q++;
        const text = line.slice(p, q);
        tokens.push({ text, line: li + 1, missing: text === '?' || text === '.' });
        p = q;
      }
    }
  }
  return tokens;
}
