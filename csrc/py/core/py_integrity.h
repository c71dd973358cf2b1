/* py_integrity.h - the glue of trust and digests: the gate a call that runs a source's code
 * passes first, what a download must match, and a model made elsewhere. Callers hold the GIL. */
#ifndef RZ_PY_INTEGRITY_H
#define RZ_PY_INTEGRITY_H

#include "core/records.h"
#include "py/state.h"

/* Call gate(identity, kind, content, tree_sha256, source_dir, what) (remotezoo/_trust.py's
 * Gate; None: no check) with what the caller pinned; content and tree may be NULL (None). 0,
 * or -1 with the exception the gate raised (an UntrustedSourceError) pending. */
int rz_py_gate(PyObject *gate, const char *identity, const char *kind, const char *content,
               const char *tree, const char *source_dir, const char *what);

/* Fill out from None (nothing expected) or {"kind": "file" | "tree", "sha256": hex,
 * "size": int}. 0, or -1 with a TypeError / ValueError set. */
int rz_py_expect(rz_expect *out, PyObject *spec);

/* From None (nothing staged) or {"path": str, "layout": "plain" | "link"} (a bundle's model):
 * *out_path a new bytes of the path's file-system encoding (NULL for None), *out_as_companion
 * 1 for "link". 0, or -1 with a TypeError set. */
int rz_py_staged(PyObject **out_path, int *out_as_companion, PyObject *staged);

#endif
