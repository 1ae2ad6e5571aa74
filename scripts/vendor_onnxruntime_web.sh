#!/usr/bin/env bash
# Re-vendor onnxruntime-web (the WASM backend only) into imggen/ui/static/onnxruntime-web/ for Explore's in-browser
# decoding (imggen/ui/browser_decode.py). Needs npm; no CDN at run time: the app serves these files itself.
set -euo pipefail
VERSION="${1:-1.30.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/imggen/ui/static/onnxruntime-web"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "onnxruntime-web@$VERSION" >/dev/null && tar xzf "onnxruntime-web-$VERSION.tgz")
rm -rf "$DEST" && mkdir -p "$DEST"
for f in ort.wasm.min.js ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
  cp "$TMP/package/dist/$f" "$DEST/$f"
done
# the npm package declares "license": "MIT" but ships no licence file: write onnxruntime's (microsoft/onnxruntime LICENSE)
cat > "$DEST/LICENSE" <<'LIC'
MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
LIC
echo "onnxruntime-web $VERSION (npm), WASM backend files only; MIT licence in LICENSE" > "$DEST/VERSION"
ls -l "$DEST"
