/* py_integrity.h - the glue of trust and digests: the gate a call that runs a source's code
 * passes first, and what a download must match. Callers hold the GIL. */
#ifndef RZ_PY_INTEGRITY_H
#define RZ_PY_INTEGRITY_H

#include "glue.h"
#include "records.h"

/* Call gate(identity, kind, content, tree_sha256, source_dir, what) (remotezoo/_trust.py's
 * Gate; None: no check) with what the caller pinned; content and tree may be NULL (None). 0,
 * or -1 with the exception the gate raised (an UntrustedSourceError) pending. */
int rz_py_gate(PyObject *gate, const char *identity, const char *kind, const char *content,
               const char *tree, const char *source_dir, const char *what);

/* Fill out from None (nothing expected) or {"kind": "file" | "tree", "sha256": hex,
 * "size": int}. 0, or -1 with a TypeError / ValueError set. */
int rz_py_expect(rz_expect *out, PyObject *spec);

#endif
