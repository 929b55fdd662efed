import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { atomicMass, atomicNumber, normaliseElement } from '../core/elements.ts';
import { buildAssembly, parseMmcif, parsePdb, readStructure } from '../io/pdb.ts';

/** A PDB ATOM/HETATM line with fields in their fixed columns. */
function atomLine(o: {
  record?: string;
  serial?: number;
  name: string;
  alt?: string;
  res?: string;
  chain?: string;
  seq?: number;
  x: number;
  y: number;
  z: number;
  element?: string;
}): string {
  const rec = (o.record ?? 'ATOM').padEnd(6);
  const f = (v: number): string => v.toFixed(3).padStart(8);
  return (
    rec +
    String(o.serial ?? 1).padStart(5) +
    ' ' +
    o.name.padEnd(4).slice(0, 4) +
    (o.alt ?? ' ') +
    (o.res ?? 'ALA').padStart(3) +
    ' ' +
    (o.chain ?? 'A') +
    String(o.seq ?? 1).padStart(4) +
    '    ' +
    f(o.x) +
    f(o.y) +
    f(o.z) +
    '  1.00 10.00          ' +
    (o.element ?? '').padStart(2)
  );
}

/** REMARK 350 rows of operator 1 = identity. */
const IDENTITY_BIOMT = [
  'REMARK 350   BIOMT1   1  1.000000  0.000000  0.000000        0.00000',
  'REMARK 350   BIOMT2   1  0.000000  1.000000  0.000000        0.00000',
  'REMARK 350   BIOMT3   1  0.000000  0.000000  1.000000        0.00000',
];
const twoAtoms = [
  atomLine({ name: ' CA ', chain: 'A', x: 1, y: 2, z: 3, element: 'C' }),
  atomLine({ name: ' CA ', chain: 'B', x: 7, y: 7, z: 7, element: 'C' }),
];

const tmp = mkdtempSync(join(tmpdir(), 'subtomo-pdb-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('element table', () => {
  it('knows atomic numbers and masses and normalises symbols', () => {
    expect(atomicNumber('C')).toBe(6);
    expect(atomicNumber('fe')).toBe(26);
    expect(atomicNumber('U')).toBe(92);
    expect(atomicMass('S')).toBeCloseTo(32.06, 2);
    expect(normaliseElement('ZN')).toBe('Zn');
    expect(normaliseElement('D')).toBe('H');
    expect(normaliseElement('Xx')).toBeUndefined();
    expect(() => atomicNumber('Qq')).toThrow(/unknown chemical element 'Qq'/);
  });
});

describe('PDB parser', () => {
  const pdb = [
    'HEADER    TEST',
    atomLine({ serial: 1, name: ' N  ', x: 1, y: 2, z: 3, element: 'N' }),
    atomLine({ serial: 2, name: ' CA ', alt: 'A', x: 2, y: 2, z: 3, element: 'C' }),
    atomLine({ serial: 3, name: ' CA ', alt: 'B', x: 9, y: 9, z: 9, element: 'C' }),
    atomLine({ serial: 4, name: 'HG21', res: 'THR', x: 0, y: 0, z: 1 }), // no element: 4-char hydrogen name
    atomLine({ serial: 5, name: ' CB ', x: 3, y: 2, z: 3 }), // no element: carbon in column 14
    atomLine({ record: 'HETATM', serial: 6, name: 'CA  ', res: 'CA', chain: 'B', x: 5, y: 5, z: 5 }), // calcium ion
    atomLine({ record: 'HETATM', serial: 7, name: 'FE  ', res: 'HEM', chain: 'B', x: 6, y: 5, z: 5, element: 'FE' }),
    atomLine({ record: 'HETATM', serial: 8, name: ' O  ', res: 'HOH', chain: 'B', x: 7, y: 7, z: 7, element: 'O' }),
    'ENDMDL',
    atomLine({ serial: 9, name: ' N  ', x: 100, y: 100, z: 100, element: 'N' }),
    'END',
  ].join('\n');

  it('reads the first model, altloc blank or A, elements from columns 77–78 or the atom name, waters skipped', () => {
    const s = parsePdb(pdb, 'inline.pdb');
    expect(s.atoms.map((a) => a.element)).toEqual(['N', 'C', 'H', 'C', 'Ca', 'Fe']);
    expect(s.atoms[1]).toMatchObject({ x: 2, y: 2, z: 3, name: 'CA', resName: 'ALA', chain: 'A' });
    expect(s.assembly).toEqual([]);
    expect(buildAssembly(s)).toBe(s.atoms);
    expect(parsePdb(pdb, 'inline.pdb', { waters: true }).atoms).toHaveLength(7);
  });

  it('builds the assembly of biomolecule 1 from REMARK 350 BIOMT, only for the listed chains', () => {
    const text = [
      'REMARK 350 BIOMOLECULE: 1',
      'REMARK 350 APPLY THE FOLLOWING TO CHAINS: A',
      ...IDENTITY_BIOMT,
      'REMARK 350   BIOMT1   2  0.000000 -1.000000  0.000000       10.00000',
      'REMARK 350   BIOMT2   2  1.000000  0.000000  0.000000        0.00000',
      'REMARK 350   BIOMT3   2  0.000000  0.000000  1.000000       -5.00000',
      'REMARK 350 BIOMOLECULE: 2',
      'REMARK 350 APPLY THE FOLLOWING TO CHAINS: B',
      ...IDENTITY_BIOMT,
      ...twoAtoms,
    ].join('\n');
    const s = parsePdb(text, 'biomt.pdb');
    expect(s.assembly).toHaveLength(1);
    expect(s.assembly[0].chains).toEqual(['A']);
    const atoms = buildAssembly(s);
    expect(atoms.map((a) => [a.x, a.y, a.z])).toEqual([
      [1, 2, 3],
      [10 - 2, 1, 3 - 5],
    ]);
  });

  it('extends the chain list with "AND CHAINS:" continuation lines', () => {
    const text = [
      'REMARK 350 BIOMOLECULE: 1',
      'REMARK 350 APPLY THE FOLLOWING TO CHAINS: A,',
      'REMARK 350                    AND CHAINS: B',
      ...IDENTITY_BIOMT,
      ...twoAtoms,
    ].join('\n');
    const s = parsePdb(text, 'and.pdb');
    expect(s.assembly[0].chains).toEqual(['A', 'B']);
    expect(buildAssembly(s)).toHaveLength(2);
  });

  it('names the file and line of malformed, truncated and unknown-element records, and rejects empty files', () => {
    const good = atomLine({ name: ' CA ', x: 1, y: 2, z: 3, element: 'C' });
    const badCoord = good.slice(0, 38) + '   abc.d' + good.slice(46);
    expect(() => parsePdb(`HEADER\n${badCoord}\n`, 'bad.pdb')).toThrow(/bad\.pdb:2: cannot read the y coordinate/);
    expect(() => parsePdb(`${good}\nATOM      2  CA  ALA A   1      1.0\n`, 'short.pdb')).toThrow(/short\.pdb:2: ATOM record is truncated/);
    const alien = atomLine({ name: ' XX ', x: 1, y: 2, z: 3, element: 'Xx' });
    expect(() => parsePdb(`${good}\n${alien}\n`, 'alien.pdb')).toThrow(/alien\.pdb:2: unknown element 'Xx'/);
    expect(() => parsePdb('', 'empty.pdb')).toThrow(/empty\.pdb: the file is empty/);
    expect(() => parsePdb('HEADER    NOTHING\nEND\n', 'none.pdb')).toThrow(/none\.pdb: no ATOM\/HETATM records/);
    const brokenBiomt = 'REMARK 350 BIOMOLECULE: 1\nREMARK 350 APPLY THE FOLLOWING TO CHAINS: A\nREMARK 350   BIOMT1   1  1.0 zero 0.0 0.0\n' + good;
    expect(() => parsePdb(brokenBiomt, 'biomt.pdb')).toThrow(/biomt\.pdb:3: malformed REMARK 350 BIOMT1/);
    const partialBiomt = 'REMARK 350 BIOMOLECULE: 1\nREMARK 350 APPLY THE FOLLOWING TO CHAINS: A\nREMARK 350   BIOMT1   1  1.0 0.0 0.0 0.0\n' + good;
    expect(() => parsePdb(partialBiomt, 'biomt.pdb')).toThrow(/biomt\.pdb:3: REMARK 350 operator 1 has no BIOMT2 row/);
  });

  it('reads files from disk, choosing the parser by name, and reports missing files', () => {
    const path = join(tmp, 'tiny.pdb');
    writeFileSync(path, atomLine({ name: ' CA ', x: 1, y: 2, z: 3, element: 'C' }));
    expect(readStructure(path).atoms).toHaveLength(1);
    expect(() => readStructure(join(tmp, 'missing.pdb'))).toThrow(/cannot read atomic model .*missing\.pdb/);
  });
});

describe('mmCIF parser', () => {
  const cif = `data_TEST
#
_entry.id TEST
#
loop_
_atom_site.group_PDB
_atom_site.id
_atom_site.type_symbol
_atom_site.label_atom_id
_atom_site.label_alt_id
_atom_site.label_comp_id
_atom_site.label_asym_id
_atom_site.Cartn_x
_atom_site.Cartn_y
_atom_site.Cartn_z
_atom_site.pdbx_PDB_model_num
ATOM   1 N  N     . ALA A 1.0 2.0 3.0 1
ATOM   2 C  CA    A ALA A 2.0 2.0 3.0 1
ATOM   3 C  CA    B ALA A 9.0 9.0 9.0 1
HETATM 4 ?  FE    . FE  B 4.0 0.0 0.0 1
ATOM   5 O  "O5'" . DA  A 0.5 0.5 0.5 1
HETATM 6 O  O     . HOH C 8.0 8.0 8.0 1
ATOM   7 N  N     . ALA A 50. 50. 50. 2
#
_pdbx_struct_assembly_gen.assembly_id       1
_pdbx_struct_assembly_gen.oper_expression   '(1,2)'
_pdbx_struct_assembly_gen.asym_id_list      A,B
#
loop_
_pdbx_struct_oper_list.id
_pdbx_struct_oper_list.type
_pdbx_struct_oper_list.matrix[1][1]
_pdbx_struct_oper_list.matrix[1][2]
_pdbx_struct_oper_list.matrix[1][3]
_pdbx_struct_oper_list.vector[1]
_pdbx_struct_oper_list.matrix[2][1]
_pdbx_struct_oper_list.matrix[2][2]
_pdbx_struct_oper_list.matrix[2][3]
_pdbx_struct_oper_list.vector[2]
_pdbx_struct_oper_list.matrix[3][1]
_pdbx_struct_oper_list.matrix[3][2]
_pdbx_struct_oper_list.matrix[3][3]
_pdbx_struct_oper_list.vector[3]
1 'identity operation'         1 0 0 0  0 1 0 0  0 0 1 0
2 'crystal symmetry operation' 1 0 0 0  0 -1 0 0  0 0 -1 100
#
`;

  it('reads the first model with quoted names, altlocs, element fallback, and the assembly operators', () => {
    const s = parseMmcif(cif, 'inline.cif');
    expect(s.atoms.map((a) => `${a.element}:${a.name}`)).toEqual(['N:N', 'C:CA', 'Fe:FE', "O:O5'"]);
    expect(s.atoms[2].chain).toBe('B');
    const atoms = buildAssembly(s);
    expect(atoms).toHaveLength(8);
    expect([atoms[5].x, atoms[5].y, atoms[5].z]).toEqual([2, -2, 97]);
  });

  it('is chosen by readStructure for .cif files', () => {
    const path = join(tmp, 'tiny.cif');
    writeFileSync(path, cif);
    expect(buildAssembly(readStructure(path))).toHaveLength(8);
  });

  it('names the file and line of bad values', () => {
    expect(() => parseMmcif(cif.replace('2.0 2.0 3.0 1', '2.0 two 3.0 1'), 'bad.cif')).toThrow(/bad\.cif:18: cannot read the y coordinate 'two'/);
    expect(() => parseMmcif(cif.replace('ATOM   1 N  N', 'ATOM   1 Xq N'), 'alien.cif')).toThrow(/alien\.cif:17: unknown element 'Xq'/);
    expect(() => parseMmcif(cif.replace('ATOM   7 N  N     . ALA A 50. 50. 50. 2\n', 'ATOM   7 N\n'), 'short.cif')).toThrow(
      /short\.cif:5: loop of _atom_site has \d+ values, not a multiple of its 11 columns/,
    );
    expect(() => parseMmcif('data_X\n_entry.id X\n', 'noatoms.cif')).toThrow(/noatoms\.cif: no _atom_site category/);
    expect(() => parseMmcif('', 'empty.cif')).toThrow(/empty\.cif: the file is empty/);
  });
});

describe('GroEL 1OEL', () => {
  const s = readStructure(fileURLToPath(new URL('../../shared/data/1OEL.pdb', import.meta.url)));
  const atoms = buildAssembly(s);

  it('has 26,929 non-water atoms in one ring and BIOMT operator 2 makes the 14-mer', () => {
    expect(s.atoms).toHaveLength(26929);
    expect(s.assembly).toHaveLength(1);
    expect(s.assembly[0].operators).toHaveLength(2);
    expect(atoms).toHaveLength(2 * 26929);
  });

  it('is D7-like: 14 subunits on two rings at 360°/7 spacing, ~14 nm wide and ~15 nm tall', () => {
    const n = s.atoms.length;
    // subunit centroids per (ring, chain)
    const centroids = new Map<string, number[]>();
    atoms.forEach((a, i) => {
      const key = `${i < n ? 1 : 2}${a.chain}`;
      const c = centroids.get(key) ?? [0, 0, 0, 0];
      c[0] += a.x;
      c[1] += a.y;
      c[2] += a.z;
      c[3] += 1;
      centroids.set(key, c);
    });
    expect(centroids.size).toBe(14);
    const cs = [...centroids.values()].map(([x, y, z, k]) => [x / k, y / k, z / k]);
    // the 7-fold axis is parallel to z: it passes through the mean of the centroids
    const ax = cs.reduce((s1, c) => s1 + c[0], 0) / 14;
    const ay = cs.reduce((s1, c) => s1 + c[1], 0) / 14;
    const radii = cs.map((c) => Math.hypot(c[0] - ax, c[1] - ay));
    const heights = cs.map((c) => c[2]);
    expect(Math.max(...radii) - Math.min(...radii)).toBeLessThan(3);
    for (const ring of [cs.slice(0, 7), cs.slice(7)]) {
      const az = ring.map((c) => Math.atan2(c[1] - ay, c[0] - ax)).sort((a, b) => a - b);
      const gaps = az.map((a, i) => ((i + 1 < 7 ? az[i + 1] : az[0] + 2 * Math.PI) - a) * (180 / Math.PI));
      for (const g of gaps) expect(Math.abs(g - 360 / 7)).toBeLessThan(3);
    }
    // the rings sit at ±z
    expect(Math.abs(heights.slice(0, 7).reduce((a, b) => a + b) / 7 + heights.slice(7).reduce((a, b) => a + b) / 7)).toBeLessThan(1e-6);
    const width = 2 * Math.max(...atoms.map((a) => Math.hypot(a.x - ax, a.y - ay)));
    const zs = atoms.map((a) => a.z);
    const height = Math.max(...zs) - Math.min(...zs);
    expect(width).toBeGreaterThan(130);
    expect(width).toBeLessThan(160);
    expect(height).toBeGreaterThan(140);
    expect(height).toBeLessThan(160);
  });
});
