#!/usr/bin/env node
// Compiles contracts/LeverageGuard.sol with the pinned solc-js and writes the artifact that Python
// loads (perpflow/chain/LeverageGuard.json). The artifact is committed so Python never needs Node;
// a test recompiles and compares byte for byte, so the output must be deterministic: fixed key
// order, two-space indent, trailing newline, nothing time- or path-dependent.
//
// Usage: node scripts/compile_contract.js [--out PATH]
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const ROOT = path.resolve(__dirname, '..');
const SOURCE_NAME = 'LeverageGuard.sol';
const CONTRACT_NAME = 'LeverageGuard';
const SOURCE_PATH = path.join(ROOT, 'contracts', SOURCE_NAME);
const DEFAULT_OUT = path.join(ROOT, 'perpflow', 'chain', `${CONTRACT_NAME}.json`);
// cancun runs unchanged on anvil, hardhat and eth-tester; solc's own default (osaka) does not.
const SETTINGS = { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun' };

function parseArgs(argv) {
  const args = { out: DEFAULT_OUT };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--out' && i + 1 < argv.length) {
      args.out = path.resolve(argv[i + 1]);
      i += 1;
    } else {
      throw new Error(`unknown argument: ${argv[i]} (usage: compile_contract.js [--out PATH])`);
    }
  }
  return args;
}

function compile(source) {
  const input = {
    language: 'Solidity',
    sources: { [SOURCE_NAME]: { content: source } },
    settings: {
      ...SETTINGS,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const diagnostics = output.errors || [];
  const errors = diagnostics.filter((d) => d.severity === 'error');
  for (const d of diagnostics) process.stderr.write(`${d.formattedMessage}\n`);
  if (errors.length > 0) throw new Error(`solc reported ${errors.length} error(s); artifact not written`);
  const contract = ((output.contracts || {})[SOURCE_NAME] || {})[CONTRACT_NAME];
  if (!contract || !contract.evm.bytecode.object) throw new Error(`no bytecode for ${CONTRACT_NAME}`);
  return contract;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const source = fs.readFileSync(SOURCE_PATH, 'utf8');
  const contract = compile(source);
  // Explicit key order: the file is compared byte for byte against a fresh compile.
  const artifact = {
    contractName: CONTRACT_NAME,
    sourceName: `contracts/${SOURCE_NAME}`,
    sourceSha256: crypto.createHash('sha256').update(source, 'utf8').digest('hex'),
    compiler: { name: 'solc-js', version: solc.version(), settings: SETTINGS },
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
  };
  fs.writeFileSync(args.out, `${JSON.stringify(artifact, null, 2)}\n`);
  process.stderr.write(`wrote ${path.relative(process.cwd(), args.out) || args.out}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`compile_contract: ${err.message}\n`);
  process.exit(1);
}
