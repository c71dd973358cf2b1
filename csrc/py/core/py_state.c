/* py_state.c - small state files of remotezoo._core's Python face under $REMOTEZOO_HOME (the
 * trust store, trust.json): changed under the C core's locks (lock.h) and written atomically
 * (fsutil.h's rz_write_atomic), so no second locking scheme lives in Python. Readers never
 * lock: rename() gives them a complete file. And the Python face's private directories (an
 * import's), held under the same locks. */
#include "py/core/py_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/home.h"
#include "core/models.h"
#include "py/core/py_index.h"
#include "py/py_error.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/lock.h"

#define STATE_MAX_BYTES (64u << 20)

/* A state file's name: lower-case letters, digits, '_' and '.', not starting with '.', and
 * none of the registry's own files. */
static int is_state_name(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && n < 64 && name[0] != '.' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.") == n &&
           strcmp(name, "registry.json") != 0 && strcmp(name, "registry.names") != 0;
}

/* The content of path into *out (a new bytes), or None when there is no file. */
static int read_state(PyObject **out, const char *path, rz_error *err)
{
    char *data = NULL;
    size_t len = 0;
    int fd, rc;

    *out = NULL;
    Py_BEGIN_ALLOW_THREADS
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        rc = fd < 0 ? (errno == ENOENT ? 0 : rz_error_os(err, errno, path, "cannot read %s", path))
                    : rz_read_fd(&data, &len, fd, STATE_MAX_BYTES, path, err);
        if (fd >= 0)
            close(fd);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return -1;
    *out = fd < 0 ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    free(data);
    return *out ? 0 : -2;
}

PyDoc_STRVAR(update_state_doc,
             "update_state(home, name, change) -> bool\n\n"
             "Under the lock of state file home/name (locks/state-<name>.lock, waited for as\n"
             "every remotezoo lock), call change(old bytes or None); when it returns bytes,\n"
             "write them to home/name atomically (0600). Returns whether it wrote.");

static PyObject *update_state(PyObject *module, PyObject *args)
{
    const char *root, *name;
    PyObject *change, *old = NULL, *new = NULL, *out = NULL;
    char *path = NULL, *lock_path = NULL;
    rz_lock lock = RZ_LOCK_INIT;
    rz_py_progress prog;
    rz_home home = RZ_HOME_INIT;
    rz_error err;
    int rc;

    if (!PyArg_ParseTuple(args, "ssO:update_state", &root, &name, &change))
        return NULL;
    if (!is_state_name(name))
        return PyErr_Format(PyExc_ValueError, "'%s' is not a state file name", name);
    rz_error_init(&err);
    if (rz_py_open_home(&home, root, &err) < 0 ||
        !(path = rz_path(&err, "%s/%s", home.root, name)) ||
        !(lock_path = rz_path(&err, "%s/state-%s.lock", home.locks, name))) {
        rz_py_raise(module, &err);
        goto done;
    }
    rz_py_blocking_begin(&prog, &home, NULL, NULL); /* Ctrl-C stops the wait */
    rc = rz_lock_acquire(&lock, lock_path, LOCK_EX, RZ_LOCK_REMOVABLE, &home.wait, &err);
    if (rz_py_blocking_end(&prog, &home) < 0)
        goto done;
    if (rc < 0) {
        rz_py_raise(module, &err);
        goto done;
    }
    rc = read_state(&old, path, &err);
    if (rc == -1)
        rz_py_raise(module, &err);
    if (rc < 0)
        goto done;
    new = PyObject_CallFunctionObjArgs(change, old, NULL);
    if (!new)
        goto done;
    if (new == Py_None) {
        out = Py_NewRef(Py_False);
        goto done;
    }
    if (!PyBytes_Check(new)) {
        PyErr_SetString(PyExc_TypeError, "update_state's change must return bytes or None");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
        rc = rz_write_atomic(path, PyBytes_AsString(new), (size_t)PyBytes_Size(new), &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        rz_py_raise(module, &err);
    else
        out = Py_NewRef(Py_True);
done:
    Py_BEGIN_ALLOW_THREADS
        rz_lock_release(&lock);
    Py_END_ALLOW_THREADS
    Py_XDECREF(old);
    Py_XDECREF(new);
    free(path);
    free(lock_path);
    rz_home_clear(&home);
    return out;
}

PyDoc_STRVAR(held_dir_doc,
             "held_dir(home, prefix, work) -> object\n\n"
             "Make the private directory home/<prefix>XXXXXX, locked (lock.h) so that `cache gc`\n"
             "leaves it while it lives; call work(path); then remove it and let go. Returns what\n"
             "work returned.");

static PyObject *held_dir(PyObject *module, PyObject *args)
{
    const char *root, *prefix;
    PyObject *work, *path_obj = NULL, *out = NULL;
    rz_lock lock = RZ_LOCK_INIT;
    char *path = NULL;
    rz_error err;
    int rc;

    if (!PyArg_ParseTuple(args, "ssO:held_dir", &root, &prefix, &work))
        return NULL;
    rz_error_init(&err);
    Py_BEGIN_ALLOW_THREADS
        rc = rz_download_tmp(&path, root, prefix, &lock, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return rz_py_raise(module, &err);
    if ((path_obj = PyUnicode_DecodeFSDefault(path)))
        out = PyObject_CallFunctionObjArgs(work, path_obj, NULL);
    Py_BEGIN_ALLOW_THREADS
        rz_rmtree(path, NULL);
        rz_lock_release(&lock); /* after the removal: gc never takes a live directory */
    Py_END_ALLOW_THREADS
    Py_XDECREF(path_obj);
    free(path);
    return out;
}

PyMethodDef rz_py_state_methods[] = {
    {"update_state", update_state, METH_VARARGS, update_state_doc},
    {"held_dir", held_dir, METH_VARARGS, held_dir_doc},
    {NULL, NULL, 0, NULL},
};
