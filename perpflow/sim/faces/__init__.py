"""One folder per venue protocol the sim speaks over its shared engine; faces never import each other."""
