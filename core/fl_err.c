/* fixlua — names and descriptions of enum fl_err. */
#include "fl_err.h"

struct err_entry {
    int code;
    const char *name;
    const char *text;
};

static const struct err_entry err_table[] = {
    {FL_OK, "OK", "success"},
    {FL_ENOMEM, "ENOMEM", "out of memory"},
    {FL_EINVAL, "EINVAL", "invalid argument"},
    {FL_EAGAIN, "EAGAIN", "resource temporarily unavailable"},
    {FL_EPROTO, "EPROTO", "malformed FIX message"},
    {FL_ECHECKSUM, "ECHECKSUM", "CheckSum(10) does not match"},
    {FL_EBODYLEN, "EBODYLEN", "BodyLength(9) does not match"},
    {FL_ECLOSED, "ECLOSED", "object is closed"},
    {FL_EIO, "EIO", "input/output error"},
    {FL_ETLS, "ETLS", "TLS error"},
    {FL_ENOENT, "ENOENT", "not found"},
    {FL_EFORMAT, "EFORMAT", "value has the wrong data format"},
    {FL_ERANGE, "ERANGE", "value out of range"},
    {FL_ELIMIT, "ELIMIT", "configured limit exceeded"},
    {FL_ECORRUPT, "ECORRUPT", "persistent data is corrupt"},
    {FL_ESTATE, "ESTATE", "not allowed in the current state"},
};

static const struct err_entry *find_err(int rc)
{
    for (unsigned i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].code == rc)
            return &err_table[i];
    return 0;
}

const char *fl_err_name(int rc)
{
    const struct err_entry *e = find_err(rc);
    return e ? e->name : "UNKNOWN";
}

const char *fl_strerror(int rc)
{
    const struct err_entry *e = find_err(rc);
    return e ? e->text : "unknown error";
}
