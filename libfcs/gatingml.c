/*
 * gatingml.c — Gating-ML 2.0 (ISAC 2013) import into an fcs_strategy and
 * export back, with libxml2.
 *
 * Reading is strict: elements are matched by namespace URI and local name,
 * each element's children are checked against what the schema allows
 * (data-type:custom_info is skipped wherever it may appear), required
 * attributes and numbers are checked, and references are resolved by
 * fcs_strategy_check. Every message is "FILE:LINE: element: problem".
 * Security: no network, no DTD (a document with one is refused before any
 * entity could be expanded), libxml2 diagnostics go to our error record and
 * never to stderr.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "fcs/gate.h"
#include "gate_internal.h"
#include "internal.h"

#define NS_GATING "http://www.isac-net.org/std/Gating-ML/v2.0/gating"
#define NS_XFORM "http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
#define NS_DT "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"

/* Largest document read (Gating-ML files are kilobytes; this bounds memory). */
#define GML_MAX_BYTES ((size_t)256 << 20)

typedef struct gml {
    const char *name; /* for messages */
    fcs_strategy *s;
    fcs_error *err;
    int failed;       /* an error was recorded (the first one is kept) */
    int dtd;          /* the document has a DTD */
} gml;

/* ======================================================================
 * Messages
 * ====================================================================== */

static const char *ns_prefix(const xmlNode *n)
{
    if (!n->ns) return "";
    const char *h = (const char *)n->ns->href;
    if (strcmp(h, NS_GATING) == 0) return "gating:";
    if (strcmp(h, NS_XFORM) == 0) return "transforms:";
    if (strcmp(h, NS_DT) == 0) return "data-type:";
    return "";
}

static int gerrv(gml *g, const xmlNode *n, int code, const char *fmt, va_list ap)
{
    if (g->failed) return code;
    g->failed = 1;
    char msg[FCS_ERRMSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (n)
        fcs_error_set(g->err, code, "%s:%ld: %s%s: %s", g->name, xmlGetLineNo(n), ns_prefix(n),
                      (const char *)n->name, msg);
    else
        fcs_error_set(g->err, code, "%s: %s", g->name, msg);
    return code;
}

static int gerr(gml *g, const xmlNode *n, int code, const char *fmt, ...) FCS_PRINTF(4, 5);
static int gerr(gml *g, const xmlNode *n, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = gerrv(g, n, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* A failed fcs_strategy_add_*: its message, located at n. */
static int serr_at(gml *g, const xmlNode *n, int rc)
{
    if (rc == FCS_ENOMEM) return gerr(g, n, rc, "out of memory");
    return gerr(g, n, rc < 0 ? rc : FCS_EFORMAT, "%s", fcs_strategy_errmsg(g->s));
}

/* libxml2 reports parse errors here (never on stderr). */
static void xml_error(void *user, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = user;
    gml *g = ctxt ? ctxt->_private : NULL;
    if (!g || !e || e->level < XML_ERR_ERROR || g->failed) return;
    char msg[FCS_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", e->message ? e->message : "malformed XML");
    size_t l = strlen(msg);
    while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' ')) msg[--l] = '\0';
    /* Some libxml2 messages span lines; ours are one line. */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    g->failed = 1;
    fcs_error_set(g->err, FCS_EFORMAT, "%s:%d: XML: %s", g->name, e->line, msg);
}

/* A DTD (internal subset) is refused: Gating-ML has none, and refusing it
 * rules out entity expansion and external entities altogether. */
static void no_dtd(void *user, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name, (void)ext, (void)sys;
    xmlParserCtxtPtr ctxt = user;
    gml *g = ctxt->_private;
    if (!g->failed) {
        g->failed = 1;
        fcs_error_set(g->err, FCS_EFORMAT, "%s:%d: XML: a DTD is not allowed in Gating-ML",
                      g->name, xmlSAX2GetLineNumber(ctxt));
    }
    g->dtd = 1;
    xmlStopParser(ctxt);
}

/* ======================================================================
 * Tree helpers
 * ====================================================================== */

static int is_el(const xmlNode *n, const char *ns, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns && strcmp((const char *)n->ns->href, ns) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

static int is_custom_info(const xmlNode *n) { return is_el(n, NS_DT, "custom_info"); }

/* Next child element of parent after `after` (NULL: the first), skipping
 * comments, processing instructions, blank text and custom_info; other text
 * or entity references are an error (*bad set). */
static xmlNode *next_el(gml *g, const xmlNode *parent, xmlNode *after, int *bad)
{
    for (xmlNode *c = after ? after->next : parent->children; c; c = c->next) {
        if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE) continue;
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            for (const xmlChar *t = c->content; t && *t; t++)
                if (*t != ' ' && *t != '\t' && *t != '\n' && *t != '\r') {
                    *bad = gerr(g, parent, FCS_EFORMAT, "unexpected text content");
                    return NULL;
                }
            continue;
        }
        if (c->type != XML_ELEMENT_NODE) {
            *bad = gerr(g, parent, FCS_EFORMAT, "unexpected content (node type %d)", (int)c->type);
            return NULL;
        }
        if (is_custom_info(c)) continue;
        return c;
    }
    return NULL;
}

#define FOR_EACH_EL(g, parent, c, bad) \
    for (xmlNode *c = next_el(g, parent, NULL, &bad); c; c = next_el(g, parent, c, &bad))

static int unknown_el(gml *g, const xmlNode *c, const xmlNode *parent)
{
    return gerr(g, c, FCS_EFORMAT, "unknown element in %s%s", ns_prefix(parent),
                (const char *)parent->name);
}

/* Attribute name in namespace ns, or unqualified (some writers omit the
 * prefix on attributes); malloc'd by libxml2 (xmlFree), NULL when absent. */
static char *attr(const xmlNode *n, const char *ns, const char *name)
{
    xmlChar *v = xmlGetNsProp(n, (const xmlChar *)name, (const xmlChar *)ns);
    if (!v) v = xmlGetNoNsProp(n, (const xmlChar *)name);
    return (char *)v;
}

static int need_attr(gml *g, const xmlNode *n, const char *ns, const char *name, char **out)
{
    *out = attr(n, ns, name);
    if (!*out) return gerr(g, n, FCS_EFORMAT, "missing attribute %s", name);
    if (!**out) {
        xmlFree(*out);
        *out = NULL;
        return gerr(g, n, FCS_EFORMAT, "attribute %s is empty", name);
    }
    return FCS_OK;
}

static int parse_num(gml *g, const xmlNode *n, const char *what, const char *txt, double *out)
{
    if (fcs_parse_double(txt, out) != 0)
        return gerr(g, n, FCS_EFORMAT, "%s '%s' is not a number", what, txt);
    if (!isfinite(*out)) return gerr(g, n, FCS_EFORMAT, "%s '%s' is not finite", what, txt);
    return FCS_OK;
}

/* Numeric attribute; *present (may be NULL: then required) tells if it was there. */
static int num_attr(gml *g, const xmlNode *n, const char *ns, const char *name, double *out,
                    int *present)
{
    char *v = attr(n, ns, name);
    if (present) *present = v != NULL;
    if (!v) return present ? FCS_OK : gerr(g, n, FCS_EFORMAT, "missing attribute %s", name);
    int rc = parse_num(g, n, name, v, out);
    xmlFree(v);
    return rc;
}

static int bool_attr(gml *g, const xmlNode *n, const char *ns, const char *name, int *out)
{
    char *v = attr(n, ns, name);
    *out = 0;
    if (!v) return FCS_OK;
    int rc = FCS_OK;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
        rc = gerr(g, n, FCS_EFORMAT, "%s must be true or false, not '%s'", name, v);
    xmlFree(v);
    return rc;
}

/* Text of an element made of text only (gating:value). */
static int text_of(gml *g, const xmlNode *n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE) continue;
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
            return gerr(g, n, FCS_EFORMAT, "expected a number, found markup");
        size_t l = strlen((const char *)c->content);
        if (len + l + 1 > size) return gerr(g, n, FCS_EFORMAT, "value too long");
        memcpy(buf + len, c->content, l + 1);
        len += l;
    }
    return FCS_OK;
}

/* Growable arrays for what an element lists. */
typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static int dpush(gml *g, const xmlNode *n, dvec *d, double x)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 8;
        double *p = realloc(d->v, nc * sizeof *p);
        if (!p) return gerr(g, n, FCS_ENOMEM, "out of memory");
        d->v = p, d->cap = nc;
    }
    d->v[d->n++] = x;
    return FCS_OK;
}

typedef struct svec {
    char **v;
    size_t n, cap;
} svec;

static int spush(gml *g, const xmlNode *n, svec *s, char *x)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 8;
        char **p = realloc(s->v, nc * sizeof *p);
        if (!p) {
            xmlFree(x);
            return gerr(g, n, FCS_ENOMEM, "out of memory");
        }
        s->v = p, s->cap = nc;
    }
    s->v[s->n++] = x;
    return FCS_OK;
}

static void sfree(svec *s)
{
    for (size_t i = 0; i < s->n; i++) xmlFree(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ======================================================================
 * Dimensions
 * ====================================================================== */

/* A dimension as read: strings owned by libxml2 (xmlFree). */
typedef struct rdim {
    fcs_gate_dim d;
    double min, max; /* rectangle: NaN when absent */
} rdim;

static void rdim_free(rdim *r)
{
    xmlFree((char *)r->d.name);
    xmlFree((char *)r->d.ratio);
    xmlFree((char *)r->d.compensation);
    xmlFree((char *)r->d.transform);
    memset(r, 0, sizeof *r);
}

/* The data-type:fcs-dimension or data-type:new-dimension inside a
 * gating:dimension / gating:divider. Other children are passed to extra
 * (divider values), or refused when extra is NULL. */
typedef int (*extra_fn)(gml *g, xmlNode *c, void *ctx);

static int read_dim(gml *g, xmlNode *n, int with_range, rdim *r, extra_fn extra, void *ctx)
{
    memset(r, 0, sizeof *r);
    r->min = r->max = NAN;
    int rc = need_attr(g, n, NS_GATING, "compensation-ref", (char **)&r->d.compensation);
    if (rc) return rc;
    r->d.transform = attr(n, NS_GATING, "transformation-ref");
    if (r->d.transform && !*r->d.transform)
        return gerr(g, n, FCS_EFORMAT, "attribute transformation-ref is empty");
    if (with_range) {
        int has_min, has_max;
        if ((rc = num_attr(g, n, NS_GATING, "min", &r->min, &has_min)) ||
            (rc = num_attr(g, n, NS_GATING, "max", &r->max, &has_max)))
            return rc;
        if (!has_min && !has_max)
            return gerr(g, n, FCS_EFORMAT, "a rectangle dimension needs min, max or both");
    }
    int bad = 0, found = 0;
    FOR_EACH_EL(g, n, c, bad)
    {
        if (is_el(c, NS_DT, "fcs-dimension") || is_el(c, NS_DT, "new-dimension")) {
            if (found++) return gerr(g, c, FCS_EFORMAT, "a dimension names one channel only");
            int fcs = is_el(c, NS_DT, "fcs-dimension");
            rc = need_attr(g, c, NS_DT, fcs ? "name" : "transformation-ref",
                           fcs ? (char **)&r->d.name : (char **)&r->d.ratio);
        } else if (extra) {
            rc = extra(g, c, ctx);
        } else {
            rc = unknown_el(g, c, n);
        }
        if (rc) return rc;
    }
    if (bad) return bad;
    if (!found)
        return gerr(g, n, FCS_EFORMAT, "needs a data-type:fcs-dimension or new-dimension");
    return FCS_OK;
}

/* ======================================================================
 * Gates
 * ====================================================================== */

typedef struct gate_head {
    char *id, *parent;
} gate_head;

static int read_head(gml *g, xmlNode *n, gate_head *h)
{
    h->parent = NULL;
    int rc = need_attr(g, n, NS_GATING, "id", &h->id);
    if (rc) return rc;
    h->parent = attr(n, NS_GATING, "parent_id");
    if (h->parent && !*h->parent) return gerr(g, n, FCS_EFORMAT, "attribute parent_id is empty");
    return FCS_OK;
}

static void head_free(gate_head *h)
{
    xmlFree(h->id);
    xmlFree(h->parent);
}

/* Read the gating:dimension children (rdim array, *n_out) of a gate; other
 * children go to extra. */
typedef struct dims {
    rdim *v;
    size_t n, cap;
} dims;

static void dims_free(dims *d)
{
    for (size_t i = 0; i < d->n; i++) rdim_free(&d->v[i]);
    free(d->v);
}

static int dims_push(gml *g, xmlNode *c, dims *d, int with_range)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 4;
        rdim *p = realloc(d->v, nc * sizeof *p);
        if (!p) return gerr(g, c, FCS_ENOMEM, "out of memory");
        d->v = p, d->cap = nc;
    }
    int rc = read_dim(g, c, with_range, &d->v[d->n], NULL, NULL);
    d->n++; /* counted even on failure, so that dims_free releases it */
    return rc;
}

/* A value element (el_ns:el with attribute attr_ns:value) appended to out;
 * 1 when c is not such an element. */
static int value_el(gml *g, xmlNode *c, const char *el_ns, const char *el, const char *attr_ns,
                    dvec *out)
{
    if (!is_el(c, el_ns, el)) return 1;
    double v;
    int rc = num_attr(g, c, attr_ns, "value", &v, NULL);
    return rc ? rc : dpush(g, c, out, v);
}

static int coordinate(gml *g, xmlNode *c, const char *elname, const char *ns, dvec *out)
{
    return value_el(g, c, NS_GATING, elname, ns, out);
}

/* gating:vertex: exactly two gating:coordinate. */
static int read_vertex(gml *g, xmlNode *n, dvec *xy)
{
    int bad = 0, k = 0, rc;
    FOR_EACH_EL(g, n, c, bad)
    {
        if ((rc = coordinate(g, c, "coordinate", NS_DT, xy)) == 1) return unknown_el(g, c, n);
        if (rc) return rc;
        k++;
    }
    if (bad) return bad;
    if (k != 2) return gerr(g, n, FCS_EFORMAT, "a vertex has 2 coordinates, not %d", k);
    return FCS_OK;
}

static fcs_gate_dim *plain_dims(gml *g, xmlNode *n, const dims *d)
{
    fcs_gate_dim *v = calloc(d->n ? d->n : 1, sizeof *v);
    if (!v) {
        gerr(g, n, FCS_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < d->n; i++) v[i] = d->v[i].d;
    return v;
}

static int read_rectangle(gml *g, xmlNode *n, const gate_head *h)
{
    dims d = {0};
    int bad = 0, rc = FCS_OK;
    FOR_EACH_EL(g, n, c, bad)
    {
        rc = is_el(c, NS_GATING, "dimension") ? dims_push(g, c, &d, 1) : unknown_el(g, c, n);
        if (rc) break;
    }
    if (!rc) rc = bad;
    if (!rc && d.n == 0) rc = gerr(g, n, FCS_EFORMAT, "needs at least one gating:dimension");
    fcs_gate_dim *pd = rc ? NULL : plain_dims(g, n, &d);
    double *lo = pd ? malloc(d.n * sizeof *lo) : NULL, *hi = lo ? malloc(d.n * sizeof *hi) : NULL;
    if (!rc && !hi) rc = gerr(g, n, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < d.n; i++) lo[i] = d.v[i].min, hi[i] = d.v[i].max;
    if (!rc && (rc = fcs_strategy_add_rectangle(g->s, h->id, h->parent, d.n, pd, lo, hi)))
        rc = serr_at(g, n, rc);
    free(pd), free(lo), free(hi);
    dims_free(&d);
    return rc;
}

static int read_polygon(gml *g, xmlNode *n, const gate_head *h)
{
    dims d = {0};
    dvec xy = {0};
    int bad = 0, rc = FCS_OK;
    FOR_EACH_EL(g, n, c, bad)
    {
        if (is_el(c, NS_GATING, "dimension")) {
            if (xy.n) rc = gerr(g, c, FCS_EFORMAT, "dimensions must precede the vertices");
            if (!rc) rc = dims_push(g, c, &d, 0);
        } else if (is_el(c, NS_GATING, "vertex")) {
            rc = read_vertex(g, c, &xy);
        } else {
            rc = unknown_el(g, c, n);
        }
        if (rc) break;
    }
    if (!rc) rc = bad;
    if (!rc && d.n != 2)
        rc = gerr(g, n, FCS_EFORMAT, "a polygon has 2 dimensions, not %zu", d.n);
    if (!rc && xy.n < 6)
        rc = gerr(g, n, FCS_EFORMAT, "a polygon needs at least 3 vertices, not %zu", xy.n / 2);
    if (!rc) {
        fcs_gate_dim pd[2] = {d.v[0].d, d.v[1].d};
        if ((rc = fcs_strategy_add_polygon(g->s, h->id, h->parent, pd, xy.n / 2, xy.v)))
            rc = serr_at(g, n, rc);
    }
    free(xy.v);
    dims_free(&d);
    return rc;
}

/* gating:covarianceMatrix: rows of entries. */
static int read_matrix_rows(gml *g, xmlNode *n, size_t nd, dvec *cov)
{
    int bad = 0, rc;
    size_t rows = 0;
    FOR_EACH_EL(g, n, r, bad)
    {
        if (!is_el(r, NS_GATING, "row")) return unknown_el(g, r, n);
        size_t before = cov->n;
        int bad2 = 0;
        FOR_EACH_EL(g, r, e, bad2)
        {
            if ((rc = coordinate(g, e, "entry", NS_DT, cov)) == 1) return unknown_el(g, e, r);
            if (rc) return rc;
        }
        if (bad2) return bad2;
        if (cov->n - before != nd)
            return gerr(g, r, FCS_EFORMAT, "row has %zu entries for %zu dimensions",
                        cov->n - before, nd);
        rows++;
    }
    if (bad) return bad;
    if (rows != nd)
        return gerr(g, n, FCS_EFORMAT, "%zu rows for %zu dimensions", rows, nd);
    return FCS_OK;
}

static int read_ellipsoid(gml *g, xmlNode *n, const gate_head *h)
{
    dims d = {0};
    dvec mean = {0}, cov = {0};
    double dsq = NAN;
    int bad = 0, rc = FCS_OK, have_mean = 0, have_cov = 0, have_dsq = 0;
    FOR_EACH_EL(g, n, c, bad)
    {
        if (is_el(c, NS_GATING, "dimension")) {
            rc = (have_mean || have_cov || have_dsq)
                     ? gerr(g, c, FCS_EFORMAT, "dimensions must come first")
                     : dims_push(g, c, &d, 0);
        } else if (is_el(c, NS_GATING, "mean")) {
            if (have_mean++) rc = gerr(g, c, FCS_EFORMAT, "mean given twice");
            int bad2 = 0;
            FOR_EACH_EL(g, c, e, bad2)
            {
                if (rc) break;
                if ((rc = coordinate(g, e, "coordinate", NS_DT, &mean)) == 1)
                    rc = unknown_el(g, e, c);
            }
            if (!rc) rc = bad2;
            if (!rc && mean.n != d.n)
                rc = gerr(g, c, FCS_EFORMAT, "%zu coordinates for %zu dimensions", mean.n, d.n);
        } else if (is_el(c, NS_GATING, "covarianceMatrix")) {
            rc = have_cov++ ? gerr(g, c, FCS_EFORMAT, "covarianceMatrix given twice")
                            : read_matrix_rows(g, c, d.n, &cov);
        } else if (is_el(c, NS_GATING, "distanceSquare")) {
            rc = have_dsq++ ? gerr(g, c, FCS_EFORMAT, "distanceSquare given twice")
                            : num_attr(g, c, NS_DT, "value", &dsq, NULL);
        } else {
            rc = unknown_el(g, c, n);
        }
        if (rc) break;
    }
    if (!rc) rc = bad;
    if (!rc && d.n < 2)
        rc = gerr(g, n, FCS_EFORMAT, "an ellipsoid needs at least 2 dimensions, not %zu", d.n);
    if (!rc && (!have_mean || !have_cov || !have_dsq))
        rc = gerr(g, n, FCS_EFORMAT, "needs gating:mean, gating:covarianceMatrix and "
                                     "gating:distanceSquare");
    fcs_gate_dim *pd = rc ? NULL : plain_dims(g, n, &d);
    if (pd && (rc = fcs_strategy_add_ellipsoid(g->s, h->id, h->parent, d.n, pd, mean.v, cov.v,
                                               dsq)))
        rc = serr_at(g, n, rc);
    if (!rc && !pd) rc = FCS_ENOMEM;
    free(pd), free(mean.v), free(cov.v);
    dims_free(&d);
    return rc;
}

/* ---- quadrant gates ---- */

typedef struct rdivider {
    char *id;
    rdim dim;
    dvec values;
    int line;
} rdivider;

static int divider_value(gml *g, xmlNode *c, void *ctx)
{
    rdivider *dv = ctx;
    if (!is_el(c, NS_GATING, "value")) return unknown_el(g, c, c->parent);
    char buf[128];
    double v;
    int rc = text_of(g, c, buf, sizeof buf);
    if (!rc) rc = parse_num(g, c, "value", buf, &v);
    return rc ? rc : dpush(g, c, &dv->values, v);
}

static int read_quadrant(gml *g, xmlNode *q, const char *gate_id)
{
    char *id = NULL;
    int rc = need_attr(g, q, NS_GATING, "id", &id);
    svec refs = {0};
    dvec loc = {0};
    int bad = 0;
    FOR_EACH_EL(g, q, p, bad)
    {
        if (rc) break;
        if (!is_el(p, NS_GATING, "position")) {
            rc = unknown_el(g, p, q);
            break;
        }
        char *ref = NULL;
        double l;
        if ((rc = need_attr(g, p, NS_GATING, "divider_ref", &ref))) break;
        if ((rc = num_attr(g, p, NS_GATING, "location", &l, NULL))) {
            xmlFree(ref);
            break;
        }
        if ((rc = spush(g, p, &refs, ref)) || (rc = dpush(g, p, &loc, l))) break;
    }
    if (!rc) rc = bad;
    if (!rc && refs.n == 0) rc = gerr(g, q, FCS_EFORMAT, "a quadrant needs a gating:position");
    if (!rc && (rc = fcs_strategy_add_quadrant(g->s, gate_id, id, refs.n,
                                               (const char *const *)refs.v, loc.v)))
        rc = serr_at(g, q, rc);
    xmlFree(id);
    sfree(&refs);
    free(loc.v);
    return rc;
}

static int read_quadrant_gate(gml *g, xmlNode *n, const gate_head *h)
{
    rdivider *dv = NULL;
    size_t nd = 0;
    int bad = 0, rc = FCS_OK, quads = 0;
    /* Dividers first, then the gate, then its quadrants. */
    FOR_EACH_EL(g, n, c, bad)
    {
        if (is_el(c, NS_GATING, "Quadrant")) {
            quads++;
            continue;
        }
        if (!is_el(c, NS_GATING, "divider")) {
            rc = unknown_el(g, c, n);
            break;
        }
        if (quads) {
            rc = gerr(g, c, FCS_EFORMAT, "dividers must precede the quadrants");
            break;
        }
        rdivider *p = realloc(dv, (nd + 1) * sizeof *dv);
        if (!p) {
            rc = gerr(g, c, FCS_ENOMEM, "out of memory");
            break;
        }
        dv = p;
        memset(&dv[nd], 0, sizeof dv[nd]);
        rdivider *d = &dv[nd++];
        d->line = (int)xmlGetLineNo(c);
        if ((rc = need_attr(g, c, NS_GATING, "id", &d->id))) break;
        if ((rc = read_dim(g, c, 0, &d->dim, divider_value, d))) break;
        if (d->values.n == 0) {
            rc = gerr(g, c, FCS_EFORMAT, "a divider needs at least one gating:value");
            break;
        }
    }
    if (!rc) rc = bad;
    if (!rc && nd == 0) rc = gerr(g, n, FCS_EFORMAT, "needs at least one gating:divider");
    if (!rc && quads == 0) rc = gerr(g, n, FCS_EFORMAT, "needs at least one gating:Quadrant");
    fcs_gate_divider *pd = rc ? NULL : calloc(nd, sizeof *pd);
    if (!rc && !pd) rc = gerr(g, n, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nd; i++) {
        pd[i].id = dv[i].id;
        pd[i].dim = dv[i].dim.d;
        pd[i].n_values = dv[i].values.n;
        pd[i].values = dv[i].values.v;
    }
    if (!rc && (rc = fcs_strategy_add_quadrant_gate(g->s, h->id, h->parent, nd, pd)))
        rc = serr_at(g, n, rc);
    FOR_EACH_EL(g, n, c, bad)
    {
        if (rc) break;
        if (is_el(c, NS_GATING, "Quadrant")) rc = read_quadrant(g, c, h->id);
    }
    free(pd);
    for (size_t i = 0; i < nd; i++) {
        xmlFree(dv[i].id);
        rdim_free(&dv[i].dim);
        free(dv[i].values.v);
    }
    free(dv);
    return rc;
}

/* ---- boolean gates ---- */

static int read_boolean(gml *g, xmlNode *n, const gate_head *h)
{
    xmlNode *op = NULL;
    int bad = 0, rc = FCS_OK;
    FOR_EACH_EL(g, n, c, bad)
    {
        if (!is_el(c, NS_GATING, "and") && !is_el(c, NS_GATING, "or") &&
            !is_el(c, NS_GATING, "not"))
            return unknown_el(g, c, n);
        if (op) return gerr(g, c, FCS_EFORMAT, "a boolean gate has one operation");
        op = c;
    }
    if (bad) return bad;
    if (!op) return gerr(g, n, FCS_EFORMAT, "needs gating:and, gating:or or gating:not");
    fcs_gate_bool_op o = is_el(op, NS_GATING, "and")  ? FCS_GATE_AND
                         : is_el(op, NS_GATING, "or") ? FCS_GATE_OR
                                                      : FCS_GATE_NOT;
    svec ids = {0};
    int *cpl = NULL;
    FOR_EACH_EL(g, op, c, bad)
    {
        if (!is_el(c, NS_GATING, "gateReference")) {
            rc = unknown_el(g, c, op);
            break;
        }
        char *ref = NULL;
        int comp;
        if ((rc = need_attr(g, c, NS_GATING, "ref", &ref))) break;
        if ((rc = bool_attr(g, c, NS_GATING, "use-as-complement", &comp))) {
            xmlFree(ref);
            break;
        }
        int *p = realloc(cpl, (ids.n + 1) * sizeof *p);
        if (!p) {
            xmlFree(ref);
            rc = gerr(g, c, FCS_ENOMEM, "out of memory");
            break;
        }
        cpl = p;
        cpl[ids.n] = comp;
        if ((rc = spush(g, c, &ids, ref))) break;
    }
    if (!rc) rc = bad;
    fcs_gate_ref *refs = rc ? NULL : calloc(ids.n ? ids.n : 1, sizeof *refs);
    if (!rc && !refs) rc = gerr(g, n, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < ids.n; i++) refs[i].id = ids.v[i], refs[i].complement = cpl[i];
    if (!rc && (rc = fcs_strategy_add_boolean(g->s, h->id, h->parent, o, ids.n, refs)))
        rc = serr_at(g, op, rc);
    free(refs), free(cpl);
    sfree(&ids);
    return rc;
}

typedef int (*gate_reader)(gml *g, xmlNode *n, const gate_head *h);

static int read_gate(gml *g, xmlNode *n, gate_reader rd)
{
    gate_head h = {0};
    int rc = read_head(g, n, &h);
    if (!rc) rc = rd(g, n, &h);
    if (!rc) fcs_strategy_set_last_gate_line(g->s, (int)xmlGetLineNo(n));
    head_free(&h);
    return rc;
}

/* ======================================================================
 * Transformations and spectrum matrices
 * ====================================================================== */

typedef struct xf_spec {
    const char *el;
    fcs_transform_kind kind;
    const char *params; /* attribute names, in constructor order */
} xf_spec;

static const xf_spec XF_SPECS[] = {
    {"flin", FCS_TRANSFORM_FLIN, "TA"},         {"flog", FCS_TRANSFORM_FLOG, "TM"},
    {"fasinh", FCS_TRANSFORM_FASINH, "TMA"},    {"logicle", FCS_TRANSFORM_LOGICLE, "TWMA"},
    {"hyperlog", FCS_TRANSFORM_HYPERLOG, "TWMA"}, {"fratio", FCS_TRANSFORM_FRATIO, "ABC"},
};

static int make_transform(const xf_spec *sp, const double *p, fcs_transform **t, fcs_error *e)
{
    fcs_logicle_params lp = {p[0], p[1], p[2], p[3]};
    switch (sp->kind) {
    case FCS_TRANSFORM_FLIN: return fcs_transform_new_flin(p[0], p[1], t, e);
    case FCS_TRANSFORM_FLOG: return fcs_transform_new_flog(p[0], p[1], t, e);
    case FCS_TRANSFORM_FASINH: return fcs_transform_new_fasinh(p[0], p[1], p[2], t, e);
    case FCS_TRANSFORM_LOGICLE: return fcs_transform_new_logicle(&lp, t, e);
    case FCS_TRANSFORM_HYPERLOG: return fcs_transform_new_hyperlog(&lp, t, e);
    case FCS_TRANSFORM_FRATIO: return fcs_transform_new_fratio(p[0], p[1], p[2], t, e);
    default: return fcs_error_set(e, FCS_EUNSUPPORTED, "not a Gating-ML transformation");
    }
}

/* The two data-type:fcs-dimension of an fratio. */
static int fratio_channels(gml *g, xmlNode *k, svec *ch)
{
    int bad = 0, rc;
    FOR_EACH_EL(g, k, c, bad)
    {
        if (!is_el(c, NS_DT, "fcs-dimension")) return unknown_el(g, c, k);
        char *nm = NULL;
        if ((rc = need_attr(g, c, NS_DT, "name", &nm)) || (rc = spush(g, c, ch, nm))) return rc;
    }
    if (bad) return bad;
    if (ch->n != 2)
        return gerr(g, k, FCS_EFORMAT, "fratio needs 2 data-type:fcs-dimension, not %zu", ch->n);
    return FCS_OK;
}

static int read_transformation(gml *g, xmlNode *n)
{
    char *id = NULL;
    int rc = need_attr(g, n, NS_XFORM, "id", &id);
    xmlNode *k = NULL;
    int bad = 0;
    FOR_EACH_EL(g, n, c, bad)
    {
        if (rc) break;
        if (k) rc = gerr(g, c, FCS_EFORMAT, "a transformation has one function");
        k = c;
    }
    if (!rc) rc = bad;
    if (!rc && !k) rc = gerr(g, n, FCS_EFORMAT, "needs a transformation function");
    const xf_spec *sp = NULL;
    for (size_t i = 0; !rc && i < sizeof XF_SPECS / sizeof *XF_SPECS; i++)
        if (is_el(k, NS_XFORM, XF_SPECS[i].el)) sp = &XF_SPECS[i];
    if (!rc && !sp) rc = unknown_el(g, k, n);
    double p[4] = {0, 0, 0, 0};
    for (size_t i = 0; !rc && sp->params[i]; i++) {
        char name[2] = {sp->params[i], 0};
        rc = num_attr(g, k, NS_XFORM, name, &p[i], NULL);
    }
    svec ch = {0};
    if (!rc && sp->kind == FCS_TRANSFORM_FRATIO) rc = fratio_channels(g, k, &ch);
    if (!rc && sp->kind != FCS_TRANSFORM_FRATIO) {
        int bad2 = 0;
        xmlNode *c = next_el(g, k, NULL, &bad2);
        if (bad2) rc = bad2;
        else if (c) rc = unknown_el(g, c, k);
    }
    fcs_transform *t = NULL;
    fcs_error e;
    if (!rc && (rc = make_transform(sp, p, &t, &e))) rc = gerr(g, k, rc, "%s", e.msg);
    if (!rc && (rc = fcs_strategy_add_transform(g->s, id, t, ch.n ? ch.v[0] : NULL,
                                                ch.n ? ch.v[1] : NULL)))
        rc = serr_at(g, n, rc);
    if (!rc) fcs_strategy_set_last_transform_line(g->s, (int)xmlGetLineNo(n));
    fcs_transform_free(t);
    sfree(&ch);
    xmlFree(id);
    return rc;
}

static int name_list(gml *g, xmlNode *n, svec *out)
{
    int bad = 0, rc;
    FOR_EACH_EL(g, n, c, bad)
    {
        if (!is_el(c, NS_DT, "fcs-dimension")) return unknown_el(g, c, n);
        char *nm = NULL;
        if ((rc = need_attr(g, c, NS_DT, "name", &nm)) || (rc = spush(g, c, out, nm))) return rc;
    }
    if (bad) return bad;
    if (out->n == 0) return gerr(g, n, FCS_EFORMAT, "lists no data-type:fcs-dimension");
    return FCS_OK;
}

static int read_spectrum_children(gml *g, xmlNode *n, svec *fl, svec *det, dvec *coef,
                                  size_t *rows)
{
    int bad = 0, rc = FCS_OK;
    size_t width = 0;
    FOR_EACH_EL(g, n, c, bad)
    {
        if (is_el(c, NS_XFORM, "fluorochromes") || is_el(c, NS_XFORM, "detectors")) {
            svec *v = is_el(c, NS_XFORM, "fluorochromes") ? fl : det;
            if (v->n) return gerr(g, c, FCS_EFORMAT, "given twice");
            if ((rc = name_list(g, c, v))) return rc;
        } else if (is_el(c, NS_XFORM, "spectrum")) {
            size_t before = coef->n;
            int bad2 = 0;
            FOR_EACH_EL(g, c, e, bad2)
            {
                if ((rc = value_el(g, e, NS_XFORM, "coefficient", NS_XFORM, coef)) == 1)
                    return unknown_el(g, e, c);
                if (rc) return rc;
            }
            if (bad2) return bad2;
            size_t w = coef->n - before;
            if (*rows && w != width)
                return gerr(g, c, FCS_EFORMAT, "%zu coefficients, the first spectrum has %zu", w,
                            width);
            width = w;
            ++*rows;
        } else {
            return unknown_el(g, c, n);
        }
    }
    return bad;
}

static int read_spectrum_matrix(gml *g, xmlNode *n)
{
    char *id = NULL;
    int inverted = 0, rc = need_attr(g, n, NS_XFORM, "id", &id);
    if (!rc) rc = bool_attr(g, n, NS_XFORM, "matrix-inverted-already", &inverted);
    svec fl = {0}, det = {0};
    dvec coef = {0};
    size_t rows = 0;
    if (!rc) rc = read_spectrum_children(g, n, &fl, &det, &coef, &rows);
    if (!rc && (!fl.n || !det.n))
        rc = gerr(g, n, FCS_EFORMAT, "needs transforms:fluorochromes and transforms:detectors");
    /* Rows: one spectrum per fluorochrome; inverted, one per detector. */
    size_t nr = inverted ? det.n : fl.n, nc = inverted ? fl.n : det.n;
    if (!rc && (rows != nr || coef.n != nr * nc))
        rc = gerr(g, n, FCS_EFORMAT,
                  "%zu fluorochromes x %zu detectors need %zu transforms:spectrum of %zu "
                  "coefficients%s",
                  fl.n, det.n, nr, nc, inverted ? " (inverted: one per detector)" : "");
    fcs_matrix *m = rc ? NULL : fcs_matrix_new(nr, nc);
    if (!rc && !m) rc = gerr(g, n, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nr; i++) {
        for (size_t j = 0; j < nc; j++) fcs_matrix_set(m, i, j, coef.v[i * nc + j]);
        if (fcs_matrix_set_row_name(m, i, inverted ? det.v[i] : fl.v[i]))
            rc = gerr(g, n, FCS_ENOMEM, "out of memory");
    }
    for (size_t j = 0; !rc && j < nc; j++)
        if (fcs_matrix_set_name(m, j, inverted ? fl.v[j] : det.v[j]))
            rc = gerr(g, n, FCS_ENOMEM, "out of memory");
    if (!rc && (rc = fcs_strategy_add_matrix(g->s, id, m, inverted))) rc = serr_at(g, n, rc);
    if (!rc) fcs_strategy_set_last_matrix_line(g->s, (int)xmlGetLineNo(n));
    fcs_matrix_free(m);
    sfree(&fl), sfree(&det);
    free(coef.v);
    xmlFree(id);
    return rc;
}

/* ======================================================================
 * Document
 * ====================================================================== */

static int read_root(gml *g, xmlNode *root)
{
    if (!is_el(root, NS_GATING, "Gating-ML"))
        return gerr(g, root, FCS_EFORMAT, "not a Gating-ML 2.0 document (root element must be "
                                          "gating:Gating-ML in namespace " NS_GATING ")");
    int bad = 0, rc = FCS_OK;
    FOR_EACH_EL(g, root, c, bad)
    {
        if (is_el(c, NS_GATING, "RectangleGate")) rc = read_gate(g, c, read_rectangle);
        else if (is_el(c, NS_GATING, "PolygonGate")) rc = read_gate(g, c, read_polygon);
        else if (is_el(c, NS_GATING, "EllipsoidGate")) rc = read_gate(g, c, read_ellipsoid);
        else if (is_el(c, NS_GATING, "QuadrantGate")) rc = read_gate(g, c, read_quadrant_gate);
        else if (is_el(c, NS_GATING, "BooleanGate")) rc = read_gate(g, c, read_boolean);
        else if (is_el(c, NS_XFORM, "transformation")) rc = read_transformation(g, c);
        else if (is_el(c, NS_XFORM, "spectrumMatrix")) rc = read_spectrum_matrix(g, c);
        else rc = unknown_el(g, c, root);
        if (rc) return rc;
    }
    if (bad) return bad;
    int line = 0;
    fcs_error e;
    if ((rc = fcs_strategy_check(g->s, &line, &e))) {
        if (line > 0) return fcs_error_set(g->err, rc, "%s:%d: %s", g->name, line, e.msg);
        return fcs_error_set(g->err, rc, "%s: %s", g->name, e.msg);
    }
    return FCS_OK;
}

int fcs_gatingml_read_mem(fcs_strategy **out, const void *data, size_t len, const char *name,
                          fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "fcs_gatingml_read_mem: no output");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && len) return fcs_error_set(err, FCS_EINVAL, "%s: no data", name);
    if (len > GML_MAX_BYTES || len > (size_t)INT32_MAX)
        return fcs_error_set(err, FCS_EFORMAT, "%s: document larger than %zu bytes", name,
                             GML_MAX_BYTES);
    fcs_error local;
    if (!err) err = &local;
    fcs_error_clear(err);
    gml g = {name, fcs_strategy_new(), err, 0, 0};
    if (!g.s) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    xmlInitParser();
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        fcs_strategy_free(g.s);
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    }
    ctxt->_private = &g;
    ctxt->sax->serror = xml_error;
    ctxt->sax->warning = NULL;
    ctxt->sax->error = NULL;
    ctxt->sax->internalSubset = no_dtd;
    ctxt->vctxt.error = NULL;
    ctxt->vctxt.warning = NULL;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, data ? data : "", (int)len, NULL, NULL,
                                      XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOWARNING);
    int rc = FCS_OK;
    if (!doc || g.failed || g.dtd || !ctxt->wellFormed) {
        if (!g.failed) fcs_error_set(err, FCS_EFORMAT, "%s: XML: not well-formed", name);
        rc = err->code ? err->code : FCS_EFORMAT;
    } else {
        xmlNode *root = xmlDocGetRootElement(doc);
        rc = root ? read_root(&g, root) : fcs_error_set(err, FCS_EFORMAT, "%s: empty", name);
    }
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    if (rc) {
        fcs_strategy_free(g.s);
        return rc;
    }
    *out = g.s;
    return FCS_OK;
}

/* Whole file (or stdin) into memory, bounded by GML_MAX_BYTES. */
static int slurp(const char *path, char **buf, size_t *len, fcs_error *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return fcs_error_set(err, FCS_EIO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    int rc = b ? FCS_OK : fcs_error_set(err, FCS_ENOMEM, "out of memory");
    while (rc == FCS_OK) {
        if (n == cap) {
            if (cap > GML_MAX_BYTES) {
                rc = fcs_error_set(err, FCS_EFORMAT, "%s: document larger than %zu bytes", path,
                                   GML_MAX_BYTES);
                break;
            }
            char *p = realloc(b, cap * 2);
            if (!p) {
                rc = fcs_error_set(err, FCS_ENOMEM, "out of memory");
                break;
            }
            b = p, cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) rc = fcs_error_set(err, FCS_EIO, "%s: %s", path, strerror(errno));
            break;
        }
    }
    if (f != stdin) fclose(f);
    if (rc) {
        free(b);
        return rc;
    }
    *buf = b;
    *len = n;
    return FCS_OK;
}

int fcs_gatingml_read(fcs_strategy **out, const char *path, fcs_error *err)
{
    if (!out || !path) return fcs_error_set(err, FCS_EINVAL, "fcs_gatingml_read: no path");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = slurp(path, &buf, &len, err);
    if (rc) return rc;
    rc = fcs_gatingml_read_mem(out, buf, len, strcmp(path, "-") == 0 ? "<stdin>" : path, err);
    free(buf);
    return rc;
}

/* ======================================================================
 * Export
 * ====================================================================== */

/* Shortest decimal that reads back to the same double. */
static void fmt_num(double v, char *buf, size_t size)
{
    if (v == floor(v) && fabs(v) < 1e15) { /* integral: 10000, not 1e+04 */
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

typedef struct wr {
    xmlTextWriterPtr w;
    int rc; /* first failure */
    fcs_error *err;
} wr;

static void w_check(wr *o, int r)
{
    if (r < 0 && !o->rc) o->rc = fcs_error_set(o->err, FCS_ENOMEM, "XML writer failed");
}

static void w_start(wr *o, const char *prefix, const char *name)
{
    w_check(o, xmlTextWriterStartElementNS(o->w, (const xmlChar *)prefix, (const xmlChar *)name,
                                           NULL));
}

static void w_end(wr *o) { w_check(o, xmlTextWriterEndElement(o->w)); }

static void w_attr(wr *o, const char *prefix, const char *name, const char *v)
{
    if (v)
        w_check(o, xmlTextWriterWriteAttributeNS(o->w, (const xmlChar *)prefix,
                                                 (const xmlChar *)name, NULL, (const xmlChar *)v));
}

static void w_num(wr *o, const char *prefix, const char *name, double v)
{
    char b[40];
    fmt_num(v, b, sizeof b);
    w_attr(o, prefix, name, b);
}

static void w_dimension_child(wr *o, const fcs_gate_dim *d)
{
    if (d->ratio) {
        w_start(o, "data-type", "new-dimension");
        w_attr(o, "data-type", "transformation-ref", d->ratio);
    } else {
        w_start(o, "data-type", "fcs-dimension");
        w_attr(o, "data-type", "name", d->name);
    }
    w_end(o);
}

static void w_dim_attrs(wr *o, const fcs_gate_dim *d)
{
    w_attr(o, "gating", "compensation-ref",
           d->compensation ? d->compensation : FCS_COMP_UNCOMPENSATED);
    w_attr(o, "gating", "transformation-ref", d->transform);
}

static void w_coordinates(wr *o, const char *el, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        w_start(o, "gating", el);
        w_num(o, "data-type", "value", v[i]);
        w_end(o);
    }
}

static void w_gate_body(wr *o, const fcs_gate_info *in)
{
    switch (in->type) {
    case FCS_GATE_RECTANGLE:
        for (size_t i = 0; i < in->n_dims; i++) {
            w_start(o, "gating", "dimension");
            w_dim_attrs(o, &in->dims[i]);
            if (!isnan(in->min[i])) w_num(o, "gating", "min", in->min[i]);
            if (!isnan(in->max[i])) w_num(o, "gating", "max", in->max[i]);
            w_dimension_child(o, &in->dims[i]);
            w_end(o);
        }
        break;
    case FCS_GATE_POLYGON:
    case FCS_GATE_ELLIPSOID:
        for (size_t i = 0; i < in->n_dims; i++) {
            w_start(o, "gating", "dimension");
            w_dim_attrs(o, &in->dims[i]);
            w_dimension_child(o, &in->dims[i]);
            w_end(o);
        }
        if (in->type == FCS_GATE_POLYGON) {
            for (size_t v = 0; v < in->n_vertices; v++) {
                w_start(o, "gating", "vertex");
                w_coordinates(o, "coordinate", in->vertices + 2 * v, 2);
                w_end(o);
            }
            break;
        }
        w_start(o, "gating", "mean");
        w_coordinates(o, "coordinate", in->mean, in->n_dims);
        w_end(o);
        w_start(o, "gating", "covarianceMatrix");
        for (size_t r = 0; r < in->n_dims; r++) {
            w_start(o, "gating", "row");
            w_coordinates(o, "entry", in->covariance + r * in->n_dims, in->n_dims);
            w_end(o);
        }
        w_end(o);
        w_start(o, "gating", "distanceSquare");
        w_num(o, "data-type", "value", in->distance_square);
        w_end(o);
        break;
    case FCS_GATE_QUADRANT:
        for (size_t i = 0; i < in->n_dividers; i++) {
            const fcs_gate_divider *d = &in->dividers[i];
            w_start(o, "gating", "divider");
            w_attr(o, "gating", "id", d->id);
            w_dim_attrs(o, &d->dim);
            w_dimension_child(o, &d->dim);
            for (size_t k = 0; k < d->n_values; k++) {
                char b[40];
                fmt_num(d->values[k], b, sizeof b);
                w_check(o, xmlTextWriterWriteElementNS(o->w, (const xmlChar *)"gating",
                                                       (const xmlChar *)"value", NULL,
                                                       (const xmlChar *)b));
            }
            w_end(o);
        }
        for (size_t q = 0; q < in->n_quadrants; q++) {
            const fcs_gate_quadrant *qd = &in->quadrants[q];
            w_start(o, "gating", "Quadrant");
            w_attr(o, "gating", "id", qd->id);
            for (size_t k = 0; k < qd->n_positions; k++) {
                w_start(o, "gating", "position");
                w_attr(o, "gating", "divider_ref", in->dividers[qd->dividers[k]].id);
                w_num(o, "gating", "location", qd->locations[k]);
                w_end(o);
            }
            w_end(o);
        }
        break;
    case FCS_GATE_BOOLEAN:
        w_start(o, "gating", in->op == FCS_GATE_AND ? "and" : in->op == FCS_GATE_OR ? "or" : "not");
        for (size_t k = 0; k < in->n_refs; k++) {
            w_start(o, "gating", "gateReference");
            w_attr(o, "gating", "ref", in->refs[k].id);
            if (in->refs[k].complement) w_attr(o, "gating", "use-as-complement", "true");
            w_end(o);
        }
        w_end(o);
        break;
    }
}

static const char *gate_el(fcs_gate_type t)
{
    switch (t) {
    case FCS_GATE_RECTANGLE: return "RectangleGate";
    case FCS_GATE_POLYGON: return "PolygonGate";
    case FCS_GATE_ELLIPSOID: return "EllipsoidGate";
    case FCS_GATE_QUADRANT: return "QuadrantGate";
    case FCS_GATE_BOOLEAN: return "BooleanGate";
    }
    return "Gate";
}

static void w_names(wr *o, const char *el, const char *const *names, size_t n)
{
    w_start(o, "transforms", el);
    for (size_t i = 0; i < n; i++) {
        w_start(o, "data-type", "fcs-dimension");
        w_attr(o, "data-type", "name", names[i]);
        w_end(o);
    }
    w_end(o);
}

static void w_matrix(wr *o, const fcs_gate_matrix_info *mi)
{
    w_start(o, "transforms", "spectrumMatrix");
    w_attr(o, "transforms", "id", mi->id);
    if (mi->inverted) w_attr(o, "transforms", "matrix-inverted-already", "true");
    w_names(o, "fluorochromes", mi->fluorochromes, mi->n_fluorochromes);
    w_names(o, "detectors", mi->detectors, mi->n_detectors);
    size_t nr = fcs_matrix_rows(mi->matrix), nc = fcs_matrix_cols(mi->matrix);
    for (size_t r = 0; r < nr; r++) {
        w_start(o, "transforms", "spectrum");
        for (size_t c = 0; c < nc; c++) {
            w_start(o, "transforms", "coefficient");
            w_num(o, "transforms", "value", fcs_matrix_get(mi->matrix, r, c));
            w_end(o);
        }
        w_end(o);
    }
    w_end(o);
}

static int w_transform(wr *o, const char *id, const fcs_transform *t, const char *num,
                       const char *den)
{
    fcs_transform_kind k = fcs_transform_get_kind(t);
    const xf_spec *sp = NULL;
    for (size_t i = 0; i < sizeof XF_SPECS / sizeof *XF_SPECS; i++)
        if (XF_SPECS[i].kind == k) sp = &XF_SPECS[i];
    if (!sp)
        return fcs_error_set(o->err, FCS_EUNSUPPORTED,
                             "transformation '%s': %s has no Gating-ML 2.0 form", id,
                             fcs_transform_kind_name(k));
    w_start(o, "transforms", "transformation");
    w_attr(o, "transforms", "id", id);
    w_start(o, "transforms", sp->el);
    for (size_t i = 0; sp->params[i]; i++) {
        char name[2] = {sp->params[i], 0};
        double v;
        if (fcs_transform_param(t, name, &v) != FCS_OK)
            return fcs_error_set(o->err, FCS_EUNSUPPORTED, "transformation '%s': no parameter %s",
                                 id, name);
        w_num(o, "transforms", name, v);
    }
    if (num) {
        const char *ch[2] = {num, den};
        for (int i = 0; i < 2; i++) {
            w_start(o, "data-type", "fcs-dimension");
            w_attr(o, "data-type", "name", ch[i]);
            w_end(o);
        }
    }
    w_end(o);
    w_end(o);
    return FCS_OK;
}

static int write_doc(const fcs_strategy *s, wr *o)
{
    w_check(o, xmlTextWriterSetIndent(o->w, 1));
    w_check(o, xmlTextWriterSetIndentString(o->w, (const xmlChar *)"  "));
    w_check(o, xmlTextWriterStartDocument(o->w, NULL, "UTF-8", NULL));
    w_start(o, "gating", "Gating-ML");
    w_attr(o, "xmlns", "gating", NS_GATING);
    w_attr(o, "xmlns", "transforms", NS_XFORM);
    w_attr(o, "xmlns", "data-type", NS_DT);
    for (size_t i = 0; !o->rc && i < fcs_strategy_n_matrices(s); i++) {
        fcs_gate_matrix_info mi;
        if (fcs_strategy_matrix(s, i, &mi) == FCS_OK) w_matrix(o, &mi);
    }
    for (size_t i = 0; !o->rc && i < fcs_strategy_n_transforms(s); i++) {
        const char *id, *num, *den;
        const fcs_transform *t;
        if (fcs_strategy_transform(s, i, &id, &t, &num, &den) == FCS_OK) {
            int rc = w_transform(o, id, t, num, den);
            if (rc && !o->rc) o->rc = rc;
        }
    }
    for (size_t i = 0; !o->rc && i < fcs_strategy_n_gates(s); i++) {
        fcs_gate_info in;
        if (fcs_strategy_gate(s, i, &in) != FCS_OK) continue;
        w_start(o, "gating", gate_el(in.type));
        w_attr(o, "gating", "id", in.id);
        w_attr(o, "gating", "parent_id", in.parent);
        w_gate_body(o, &in);
        w_end(o);
    }
    w_end(o);
    w_check(o, xmlTextWriterEndDocument(o->w));
    return o->rc;
}

int fcs_gatingml_write_mem(const fcs_strategy *s, char **out, size_t *len, fcs_error *err)
{
    if (!out || !len || !s) return fcs_error_set(err, FCS_EINVAL, "fcs_gatingml_write_mem: NULL");
    *out = NULL;
    *len = 0;
    int line, rc = fcs_strategy_check(s, &line, err);
    if (rc) return rc;
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    if (!w) {
        xmlBufferFree(buf);
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    }
    fcs_error local;
    wr o = {w, FCS_OK, err ? err : &local};
    rc = write_doc(s, &o);
    xmlFreeTextWriter(w); /* flushes into buf */
    if (rc == FCS_OK) {
        size_t n = (size_t)xmlBufferLength(buf);
        char *p = malloc(n + 1);
        if (!p) {
            rc = fcs_error_set(err, FCS_ENOMEM, "out of memory");
        } else {
            memcpy(p, xmlBufferContent(buf), n);
            p[n] = '\0';
            *out = p;
            *len = n;
        }
    }
    xmlBufferFree(buf);
    if (rc == FCS_OK) fcs_error_clear(err);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int fcs_gatingml_write(const fcs_strategy *s, const char *path, fcs_error *err)
{
    if (!path) return fcs_error_set(err, FCS_EINVAL, "fcs_gatingml_write: no path");
    char *doc;
    size_t len;
    int rc = fcs_gatingml_write_mem(s, &doc, &len, err);
    if (rc) return rc;
    if (strcmp(path, "-") == 0) {
        rc = write_all(STDOUT_FILENO, doc, len)
                 ? fcs_error_set(err, FCS_EIO, "<stdout>: %s", strerror(errno))
                 : FCS_OK;
        free(doc);
        return rc;
    }
    /* PATH.tmp.<pid> in the same folder, renamed into place when complete. */
    size_t pl = strlen(path) + 32;
    char *tmp = malloc(pl);
    if (!tmp) {
        free(doc);
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    }
    snprintf(tmp, pl, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = fcs_error_set(err, FCS_EIO, "%s: %s", tmp, strerror(errno));
    } else {
        int bad = fwrite(doc, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0;
        int e = errno;
        if (fclose(f) != 0 && !bad) bad = 1, e = errno;
        if (bad)
            rc = fcs_error_set(err, FCS_EIO, "%s: %s", tmp, strerror(e));
        else if (rename(tmp, path) != 0)
            rc = fcs_error_set(err, FCS_EIO, "%s: %s", path, strerror(errno));
        if (rc) unlink(tmp);
    }
    free(tmp);
    free(doc);
    return rc;
}
