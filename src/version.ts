// The tool's version is an input of every output's bytes (DESIGN.md determinism rules), so it is
// a constant here, not read from package.json at run time.
export const TOOL_VERSION = '0.1.0'
