/* test_gatingml.c — Gating-ML 2.0 import/export: every element on small
 * hand-written documents, every refusal with its line, export → import
 * identity, and (when the corpus is present) the ISAC compliance set:
 * each case of gatingml2/cases.tsv gated event by event against its truth
 * file, directly and after an export → import round trip. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcs/fcs.h"
#include "fcs/gate.h"
#include "testutil.h"

#define GML_OPEN                                                           \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                         \
    "<gating:Gating-ML xmlns:gating=\"http://www.isac-net.org/std/Gating-ML/v2.0/gating\"" \
    " xmlns:transforms=\"http://www.isac-net.org/std/Gating-ML/v2.0/transformations\""     \
    " xmlns:data-type=\"http://www.isac-net.org/std/Gating-ML/v2.0/datatypes\">\n"
#define GML_CLOSE "</gating:Gating-ML>\n"

static int read_xml(const char *xml, fcs_strategy **s, fcs_error *err)
{
    return fcs_gatingml_read_mem(s, xml, strlen(xml), "t.xml", err);
}

/* Parse xml expecting failure with code and a message containing want. */
static void expect_error(const char *xml, int code, const char *want)
{
    fcs_strategy *s = (fcs_strategy *)1;
    fcs_error err;
    int rc = read_xml(xml, &s, &err);
    if (rc != code || !strstr(err.msg, want))
        fprintf(stderr, "rc %d (want %d), message: %s\n  (want \"%s\")\n", rc, code, err.msg,
                want);
    assert_int_equal(rc, code);
    assert_null(s);
    assert_non_null(strstr(err.msg, want));
}

/* ---- reading every element ------------------------------------------------ */

/* Prefixes other than the usual ones, custom_info in every allowed place,
 * comments: elements are matched by namespace URI. */
static const char *ALL_XML =
    "<?xml version=\"1.0\"?>\n"
    "<g:Gating-ML xmlns:g=\"http://www.isac-net.org/std/Gating-ML/v2.0/gating\"\n"
    "  xmlns:t=\"http://www.isac-net.org/std/Gating-ML/v2.0/transformations\"\n"
    "  xmlns:d=\"http://www.isac-net.org/std/Gating-ML/v2.0/datatypes\">\n"
    "  <d:custom_info><anything at=\"all\"><g:RectangleGate/></anything></d:custom_info>\n"
    "  <!-- a comment -->\n"
    "  <t:spectrumMatrix t:id=\"M\">\n"
    "    <t:fluorochromes><d:fcs-dimension d:name=\"FITC\"/><d:fcs-dimension d:name=\"PE\"/>"
    "</t:fluorochromes>\n"
    "    <t:detectors><d:fcs-dimension d:name=\"FL1\"/><d:fcs-dimension d:name=\"FL2\"/>"
    "<d:fcs-dimension d:name=\"FL3\"/></t:detectors>\n"
    "    <t:spectrum><t:coefficient t:value=\"1\"/><t:coefficient t:value=\"0.25\"/>"
    "<t:coefficient t:value=\"0.125\"/></t:spectrum>\n"
    "    <t:spectrum><t:coefficient t:value=\"0.5\"/><t:coefficient t:value=\"1\"/>"
    "<t:coefficient t:value=\"0\"/></t:spectrum>\n"
    "  </t:spectrumMatrix>\n"
    "  <t:spectrumMatrix t:id=\"Inv\" t:matrix-inverted-already=\"true\">\n"
    "    <t:fluorochromes><d:fcs-dimension d:name=\"A\"/></t:fluorochromes>\n"
    "    <t:detectors><d:fcs-dimension d:name=\"FL1\"/><d:fcs-dimension d:name=\"FL2\"/>"
    "</t:detectors>\n"
    "    <t:spectrum><t:coefficient t:value=\"2\"/></t:spectrum>\n"
    "    <t:spectrum><t:coefficient t:value=\"-1\"/></t:spectrum>\n"
    "  </t:spectrumMatrix>\n"
    "  <t:transformation t:id=\"lin\"><t:flin t:T=\"1000\" t:A=\"10\"/></t:transformation>\n"
    "  <t:transformation t:id=\"rat\"><t:fratio t:A=\"2\" t:B=\"1\" t:C=\"-1\">"
    "<d:fcs-dimension d:name=\"FL1\"/><d:fcs-dimension d:name=\"FL2\"/></t:fratio>"
    "</t:transformation>\n"
    "  <t:transformation t:id=\"lg\"><t:logicle t:T=\"262144\" t:W=\"0.5\" t:M=\"4.5\" "
    "t:A=\"0\"/></t:transformation>\n"
    "  <g:RectangleGate g:id=\"R\" g:name=\"any attribute\">\n"
    "    <d:custom_info>note</d:custom_info>\n"
    "    <g:dimension g:compensation-ref=\"uncompensated\" g:min=\"1.5\">"
    "<d:fcs-dimension d:name=\"FSC\"/></g:dimension>\n"
    "    <g:dimension g:compensation-ref=\"M\" g:transformation-ref=\"lin\" g:max=\"0.5\">"
    "<d:fcs-dimension d:name=\"PE\"/></g:dimension>\n"
    "    <g:dimension g:compensation-ref=\"FCS\" g:min=\"-1\" g:max=\"1e3\">"
    "<d:new-dimension d:transformation-ref=\"rat\"/></g:dimension>\n"
    "  </g:RectangleGate>\n"
    "  <g:PolygonGate g:id=\"P\" g:parent_id=\"R\">\n"
    "    <g:dimension g:compensation-ref=\"FCS\"><d:fcs-dimension d:name=\"FL1\"/>"
    "</g:dimension>\n"
    "    <g:dimension g:compensation-ref=\"FCS\" g:transformation-ref=\"lg\">"
    "<d:fcs-dimension d:name=\"FL2\"/></g:dimension>\n"
    "    <g:vertex><g:coordinate d:value=\"0\"/><g:coordinate d:value=\"0\"/></g:vertex>\n"
    "    <g:vertex><g:coordinate d:value=\"4\"/><g:coordinate d:value=\"0\"/></g:vertex>\n"
    "    <g:vertex><g:coordinate d:value=\"0\"/><g:coordinate d:value=\" 3 \"/></g:vertex>\n"
    "  </g:PolygonGate>\n"
    "  <g:EllipsoidGate g:id=\"E\">\n"
    "    <g:dimension g:compensation-ref=\"uncompensated\"><d:fcs-dimension d:name=\"FL1\"/>"
    "</g:dimension>\n"
    "    <g:dimension g:compensation-ref=\"uncompensated\"><d:fcs-dimension d:name=\"FL2\"/>"
    "</g:dimension>\n"
    "    <g:mean><g:coordinate d:value=\"1\"/><g:coordinate d:value=\"2\"/></g:mean>\n"
    "    <g:covarianceMatrix><g:row><g:entry d:value=\"4\"/><g:entry d:value=\"1\"/></g:row>"
    "<g:row><g:entry d:value=\"1\"/><g:entry d:value=\"9\"/></g:row></g:covarianceMatrix>\n"
    "    <g:distanceSquare d:value=\"2.5\"/>\n"
    "  </g:EllipsoidGate>\n"
    "  <g:QuadrantGate g:id=\"Q\" g:parent_id=\"E\">\n"
    "    <g:divider g:id=\"dx\" g:compensation-ref=\"uncompensated\">"
    "<d:fcs-dimension d:name=\"FL1\"/><g:value>10</g:value><g:value> 20 </g:value></g:divider>\n"
    "    <g:divider g:id=\"dy\" g:compensation-ref=\"FCS\" g:transformation-ref=\"lin\">"
    "<d:fcs-dimension d:name=\"FL2\"/><g:value>0.5</g:value></g:divider>\n"
    "    <g:Quadrant g:id=\"Q1\"><g:position g:divider_ref=\"dx\" g:location=\"15\"/>"
    "<g:position g:divider_ref=\"dy\" g:location=\"1\"/></g:Quadrant>\n"
    "    <g:Quadrant g:id=\"Q2\"><g:position g:divider_ref=\"dx\" g:location=\"5\"/>"
    "</g:Quadrant>\n"
    "  </g:QuadrantGate>\n"
    "  <g:BooleanGate g:id=\"B\" g:parent_id=\"Q1\">\n"
    "    <g:and><g:gateReference g:ref=\"P\"/><g:gateReference g:ref=\"Q2\" "
    "g:use-as-complement=\"true\"/></g:and>\n"
    "  </g:BooleanGate>\n"
    "  <g:BooleanGate g:id=\"N\"><g:not><g:gateReference g:ref=\"B\"/></g:not></g:BooleanGate>\n"
    "</g:Gating-ML>\n";

static void test_read_every_element(void **state)
{
    (void)state;
    fcs_strategy *s;
    fcs_error err;
    int rc = read_xml(ALL_XML, &s, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    assert_int_equal(fcs_strategy_n_gates(s), 6);
    assert_int_equal(fcs_strategy_n_populations(s), 7); /* Q -> Q1, Q2 */
    assert_int_equal(fcs_strategy_n_transforms(s), 3);
    assert_int_equal(fcs_strategy_n_matrices(s), 2);

    fcs_gate_info in;
    assert_int_equal(fcs_strategy_gate(s, 0, &in), FCS_OK);
    assert_string_equal(in.id, "R");
    assert_int_equal(in.type, FCS_GATE_RECTANGLE);
    assert_int_equal(in.line, 22);
    assert_int_equal(in.n_dims, 3);
    assert_true(in.min[0] == 1.5 && isnan(in.max[0]));
    assert_true(isnan(in.min[1]) && in.max[1] == 0.5);
    assert_true(in.min[2] == -1 && in.max[2] == 1000);
    assert_string_equal(in.dims[1].compensation, "M");
    assert_string_equal(in.dims[1].transform, "lin");
    assert_null(in.dims[2].name);
    assert_string_equal(in.dims[2].ratio, "rat");

    assert_int_equal(fcs_strategy_gate(s, 1, &in), FCS_OK);
    assert_int_equal(in.type, FCS_GATE_POLYGON);
    assert_string_equal(in.parent, "R");
    assert_int_equal(in.n_vertices, 3);
    assert_true(in.vertices[2] == 4 && in.vertices[5] == 3);
    assert_string_equal(in.dims[1].transform, "lg");

    assert_int_equal(fcs_strategy_gate(s, 2, &in), FCS_OK);
    assert_int_equal(in.type, FCS_GATE_ELLIPSOID);
    assert_true(in.mean[1] == 2 && in.covariance[1] == 1 && in.covariance[3] == 9);
    assert_true(in.distance_square == 2.5);

    assert_int_equal(fcs_strategy_gate(s, 3, &in), FCS_OK);
    assert_int_equal(in.type, FCS_GATE_QUADRANT);
    assert_int_equal(in.n_dividers, 2);
    assert_int_equal(in.dividers[0].n_values, 2);
    assert_true(in.dividers[0].values[1] == 20);
    assert_string_equal(in.dividers[1].dim.transform, "lin");
    assert_int_equal(in.n_quadrants, 2);
    assert_string_equal(in.quadrants[0].id, "Q1");
    assert_int_equal(in.quadrants[0].dividers[1], 1);
    assert_true(in.quadrants[0].locations[1] == 1);
    assert_string_equal(fcs_strategy_population_parent(s, 3), "E"); /* Q1 */

    assert_int_equal(fcs_strategy_gate(s, 4, &in), FCS_OK);
    assert_int_equal(in.type, FCS_GATE_BOOLEAN);
    assert_int_equal(in.op, FCS_GATE_AND);
    assert_int_equal(in.n_refs, 2);
    assert_int_equal(in.refs[0].complement, 0);
    assert_int_equal(in.refs[1].complement, 1);
    assert_string_equal(in.refs[1].id, "Q2");
    assert_int_equal(fcs_strategy_gate(s, 5, &in), FCS_OK);
    assert_int_equal(in.op, FCS_GATE_NOT);

    const char *id, *num, *den;
    const fcs_transform *t;
    double v;
    assert_int_equal(fcs_strategy_transform(s, 1, &id, &t, &num, &den), FCS_OK);
    assert_string_equal(id, "rat");
    assert_string_equal(num, "FL1");
    assert_string_equal(den, "FL2");
    assert_int_equal(fcs_transform_param(t, "C", &v), FCS_OK);
    assert_true(v == -1);
    assert_int_equal(fcs_strategy_transform(s, 2, NULL, &t, NULL, NULL), FCS_OK);
    assert_int_equal(fcs_transform_get_kind(t), FCS_TRANSFORM_LOGICLE);

    fcs_gate_matrix_info mi;
    assert_int_equal(fcs_strategy_matrix(s, 0, &mi), FCS_OK);
    assert_int_equal(mi.n_fluorochromes, 2);
    assert_int_equal(mi.n_detectors, 3);
    assert_string_equal(mi.fluorochromes[1], "PE");
    assert_string_equal(mi.detectors[2], "FL3");
    assert_true(fcs_matrix_get(mi.matrix, 0, 2) == 0.125);
    assert_int_equal(mi.inverted, 0);
    assert_int_equal(fcs_strategy_matrix(s, 1, &mi), FCS_OK);
    assert_int_equal(mi.inverted, 1);
    assert_int_equal(fcs_matrix_rows(mi.matrix), 2); /* one row per detector */
    assert_true(fcs_matrix_get(mi.matrix, 1, 0) == -1);
    fcs_strategy_free(s);
}

/* Events gated by a document that uses the inverted matrix and an fratio:
 * values worked out by hand. */
static void test_read_and_gate(void **state)
{
    (void)state;
    const char *xml = GML_OPEN
        "<transforms:spectrumMatrix transforms:id=\"Inv\" transforms:matrix-inverted-already=\"1\">"
        "<transforms:fluorochromes><data-type:fcs-dimension data-type:name=\"A\"/>"
        "</transforms:fluorochromes><transforms:detectors>"
        "<data-type:fcs-dimension data-type:name=\"FL1\"/>"
        "<data-type:fcs-dimension data-type:name=\"FL2\"/></transforms:detectors>"
        "<transforms:spectrum><transforms:coefficient transforms:value=\"2\"/></transforms:spectrum>"
        "<transforms:spectrum><transforms:coefficient transforms:value=\"-1\"/></transforms:spectrum>"
        "</transforms:spectrumMatrix>\n"
        "<transforms:transformation transforms:id=\"rat\"><transforms:fratio transforms:A=\"2\" "
        "transforms:B=\"1\" transforms:C=\"-1\"><data-type:fcs-dimension data-type:name=\"FL1\"/>"
        "<data-type:fcs-dimension data-type:name=\"FL2\"/></transforms:fratio>"
        "</transforms:transformation>\n"
        "<gating:RectangleGate gating:id=\"A\"><gating:dimension gating:compensation-ref=\"Inv\" "
        "gating:min=\"0\"><data-type:fcs-dimension data-type:name=\"A\"/></gating:dimension>"
        "</gating:RectangleGate>\n"
        "<gating:RectangleGate gating:id=\"R\"><gating:dimension "
        "gating:compensation-ref=\"uncompensated\" gating:min=\"1\" gating:max=\"3\">"
        "<data-type:new-dimension data-type:transformation-ref=\"rat\"/></gating:dimension>"
        "</gating:RectangleGate>\n" GML_CLOSE;
    fcs_strategy *s;
    fcs_error err;
    assert_int_equal(read_xml(xml, &s, &err), FCS_OK);
    /* A = 2 FL1 - FL2 >= 0; ratio = 2 (FL1 - 1) / (FL2 + 1) in [1, 3). */
    double fl1[] = {1, 2, 3, 5, 0.5};
    double fl2[] = {3, 1, 3, 1, 0.5};
    /* A: -1, 3, 3, 9, 0.5 → 0 1 1 1 1 ; ratio: 0, 1, 2, 8, -0.666 → 0 1 1 0 0 */
    const char *ch[2] = {"FL1", "FL2"};
    const double *cols[2] = {fl1, fl2};
    fcs_gating *g;
    assert_int_equal(fcs_gating_new(&g, s, ch, 2, NULL, &err), FCS_OK);
    uint8_t a[5], r[5];
    uint8_t *mem[2] = {a, r};
    assert_int_equal(fcs_gating_run(g, cols, 5, mem), FCS_OK);
    const uint8_t wa[5] = {0, 1, 1, 1, 1}, wr[5] = {0, 1, 1, 0, 0};
    assert_memory_equal(a, wa, 5);
    assert_memory_equal(r, wr, 5);
    fcs_gating_free(g);
    fcs_strategy_free(s);
}

/* ---- refusals ----------------------------------------------------------------- */

#define RECT(body) \
    "<gating:RectangleGate gating:id=\"R\">" body "</gating:RectangleGate>\n"
#define DIM(attrs) \
    "<gating:dimension gating:compensation-ref=\"uncompensated\" " attrs \
    "><data-type:fcs-dimension data-type:name=\"X\"/></gating:dimension>"

static void test_errors_name_element_and_line(void **state)
{
    (void)state;
    /* line 3 is the first line after the root start tag */
    expect_error(GML_OPEN "<gating:Foo/>\n" GML_CLOSE, FCS_EFORMAT,
                 "t.xml:3: gating:Foo: unknown element in gating:Gating-ML");
    expect_error(GML_OPEN "\n<sample/>\n" GML_CLOSE, FCS_EFORMAT,
                 "t.xml:4: sample: unknown element");
    expect_error(GML_OPEN RECT("<gating:bogus/>") GML_CLOSE, FCS_EFORMAT,
                 ":3: gating:bogus: unknown element in gating:RectangleGate");
    expect_error(GML_OPEN "<gating:RectangleGate>" DIM("gating:min=\"1\"")
                     "</gating:RectangleGate>" GML_CLOSE,
                 FCS_EFORMAT, ":3: gating:RectangleGate: missing attribute id");
    expect_error(GML_OPEN RECT(DIM("gating:min=\"abc\"")) GML_CLOSE, FCS_EFORMAT,
                 "gating:dimension: min 'abc' is not a number");
    expect_error(GML_OPEN RECT(DIM("gating:min=\"INF\"")) GML_CLOSE, FCS_EFORMAT,
                 "min 'INF' is not finite");
    expect_error(GML_OPEN RECT(DIM("")) GML_CLOSE, FCS_EFORMAT, "needs min, max or both");
    expect_error(GML_OPEN RECT("<gating:dimension gating:min=\"1\"><data-type:fcs-dimension "
                               "data-type:name=\"X\"/></gating:dimension>") GML_CLOSE,
                 FCS_EFORMAT, "missing attribute compensation-ref");
    expect_error(GML_OPEN RECT("<gating:dimension gating:compensation-ref=\"FCS\" gating:min=\"1\"/>")
                     GML_CLOSE,
                 FCS_EFORMAT, "needs a data-type:fcs-dimension or new-dimension");
    expect_error(GML_OPEN RECT("text" DIM("gating:min=\"1\"")) GML_CLOSE, FCS_EFORMAT,
                 "gating:RectangleGate: unexpected text content");
    expect_error(GML_OPEN RECT("") GML_CLOSE, FCS_EFORMAT, "needs at least one gating:dimension");
    /* polygon: vertex count and coordinates */
    expect_error(GML_OPEN "<gating:PolygonGate gating:id=\"P\">" DIM("") DIM("")
                     "<gating:vertex><gating:coordinate data-type:value=\"1\"/></gating:vertex>"
                     "</gating:PolygonGate>" GML_CLOSE,
                 FCS_EFORMAT, "gating:vertex: a vertex has 2 coordinates, not 1");
    expect_error(GML_OPEN "<gating:PolygonGate gating:id=\"P\">" DIM("") DIM("")
                     "<gating:vertex><gating:coordinate data-type:value=\"1\"/>"
                     "<gating:coordinate data-type:value=\"1\"/></gating:vertex>"
                     "</gating:PolygonGate>" GML_CLOSE,
                 FCS_EFORMAT, "a polygon needs at least 3 vertices, not 1");
    expect_error(GML_OPEN "<gating:PolygonGate gating:id=\"P\">" DIM("") "</gating:PolygonGate>"
                     GML_CLOSE,
                 FCS_EFORMAT, "a polygon has 2 dimensions, not 1");
    /* ellipsoid: shapes must agree */
    expect_error(GML_OPEN "<gating:EllipsoidGate gating:id=\"E\">" DIM("") DIM("")
                     "<gating:mean><gating:coordinate data-type:value=\"1\"/></gating:mean>"
                     "</gating:EllipsoidGate>" GML_CLOSE,
                 FCS_EFORMAT, "1 coordinates for 2 dimensions");
    expect_error(GML_OPEN "<gating:EllipsoidGate gating:id=\"E\">" DIM("") DIM("")
                     "<gating:mean><gating:coordinate data-type:value=\"1\"/>"
                     "<gating:coordinate data-type:value=\"1\"/></gating:mean>"
                     "<gating:covarianceMatrix><gating:row><gating:entry data-type:value=\"1\"/>"
                     "<gating:entry data-type:value=\"2\"/></gating:row><gating:row>"
                     "<gating:entry data-type:value=\"2\"/><gating:entry data-type:value=\"4\"/>"
                     "</gating:row></gating:covarianceMatrix>"
                     "<gating:distanceSquare data-type:value=\"1\"/>"
                     "</gating:EllipsoidGate>" GML_CLOSE,
                 FCS_ENUMERIC, "covariance matrix is singular");
    /* quadrants */
    expect_error(GML_OPEN "<gating:QuadrantGate gating:id=\"Q\"><gating:divider gating:id=\"d\" "
                          "gating:compensation-ref=\"FCS\"><data-type:fcs-dimension "
                          "data-type:name=\"X\"/><gating:value>x1</gating:value></gating:divider>"
                          "</gating:QuadrantGate>" GML_CLOSE,
                 FCS_EFORMAT, "gating:value: value 'x1' is not a number");
    expect_error(GML_OPEN "<gating:QuadrantGate gating:id=\"Q\"><gating:divider gating:id=\"d\" "
                          "gating:compensation-ref=\"FCS\"><data-type:fcs-dimension "
                          "data-type:name=\"X\"/><gating:value>1</gating:value></gating:divider>"
                          "<gating:Quadrant gating:id=\"q\"><gating:position "
                          "gating:divider_ref=\"nope\" gating:location=\"2\"/></gating:Quadrant>"
                          "</gating:QuadrantGate>" GML_CLOSE,
                 FCS_ENOTFOUND, "gating:Quadrant: quadrant 'q': gate 'Q' has no divider 'nope'");
    /* booleans */
    expect_error(GML_OPEN "<gating:BooleanGate gating:id=\"B\"><gating:and><gating:gateReference "
                          "gating:ref=\"A\"/></gating:and></gating:BooleanGate>" GML_CLOSE,
                 FCS_EINVAL, "'and' takes at least two operands");
    expect_error(GML_OPEN "<gating:BooleanGate gating:id=\"B\"><gating:xor/></gating:BooleanGate>"
                     GML_CLOSE,
                 FCS_EFORMAT, "gating:xor: unknown element in gating:BooleanGate");
    expect_error(GML_OPEN "<gating:BooleanGate gating:id=\"B\"><gating:not><gating:gateReference "
                          "gating:ref=\"A\" gating:use-as-complement=\"yes\"/></gating:not>"
                          "</gating:BooleanGate>" GML_CLOSE,
                 FCS_EFORMAT, "use-as-complement must be true or false");
    /* references are checked after reading, located at the gate */
    expect_error(GML_OPEN "\n\n<gating:BooleanGate gating:id=\"B\"><gating:not>"
                 "<gating:gateReference gating:ref=\"Nope\"/></gating:not></gating:BooleanGate>"
                 GML_CLOSE,
                 FCS_ENOTFOUND, "t.xml:5: gate 'B': operand 'Nope' not found");
    expect_error(GML_OPEN "<gating:RectangleGate gating:id=\"R\" gating:parent_id=\"Up\">"
                     DIM("gating:min=\"0\"") "</gating:RectangleGate>" GML_CLOSE,
                 FCS_ENOTFOUND, "t.xml:3: gate 'R': parent 'Up' not found");
    expect_error(GML_OPEN RECT("<gating:dimension gating:compensation-ref=\"Spill\" "
                               "gating:min=\"0\"><data-type:fcs-dimension data-type:name=\"X\"/>"
                               "</gating:dimension>") GML_CLOSE,
                 FCS_ENOTFOUND, "compensation 'Spill'");
    expect_error(GML_OPEN RECT(DIM("gating:min=\"0\" gating:transformation-ref=\"T\"")) GML_CLOSE,
                 FCS_ENOTFOUND, "no transformation 'T'");
    expect_error(GML_OPEN RECT(DIM("gating:min=\"0\"")) RECT(DIM("gating:min=\"0\"")) GML_CLOSE,
                 FCS_EINVAL, "t.xml:4: gating:RectangleGate: gate 'R': id already used");
    /* transformations: unknown function, missing and invalid parameters */
    expect_error(GML_OPEN "<transforms:transformation transforms:id=\"t\"><transforms:fexp "
                          "transforms:T=\"1\"/></transforms:transformation>" GML_CLOSE,
                 FCS_EFORMAT, "transforms:fexp: unknown element in transforms:transformation");
    expect_error(GML_OPEN "<transforms:transformation transforms:id=\"t\"><transforms:flog "
                          "transforms:T=\"1\"/></transforms:transformation>" GML_CLOSE,
                 FCS_EFORMAT, "transforms:flog: missing attribute M");
    expect_error(GML_OPEN "<transforms:transformation transforms:id=\"t\"><transforms:logicle "
                          "transforms:T=\"1000\" transforms:W=\"3\" transforms:M=\"4\" "
                          "transforms:A=\"0\"/></transforms:transformation>" GML_CLOSE,
                 FCS_EINVAL, "t.xml:3: transforms:logicle: ");
    expect_error(GML_OPEN "<transforms:transformation transforms:id=\"t\"><transforms:fratio "
                          "transforms:A=\"1\" transforms:B=\"0\" transforms:C=\"0\">"
                          "<data-type:fcs-dimension data-type:name=\"X\"/></transforms:fratio>"
                          "</transforms:transformation>" GML_CLOSE,
                 FCS_EFORMAT, "fratio needs 2 data-type:fcs-dimension, not 1");
    /* spectrum matrix shape */
    expect_error(GML_OPEN "<transforms:spectrumMatrix transforms:id=\"m\"><transforms:fluorochromes>"
                          "<data-type:fcs-dimension data-type:name=\"a\"/></transforms:fluorochromes>"
                          "<transforms:detectors><data-type:fcs-dimension data-type:name=\"X\"/>"
                          "<data-type:fcs-dimension data-type:name=\"Y\"/></transforms:detectors>"
                          "<transforms:spectrum><transforms:coefficient transforms:value=\"1\"/>"
                          "</transforms:spectrum></transforms:spectrumMatrix>" GML_CLOSE,
                 FCS_EFORMAT, "1 fluorochromes x 2 detectors need 1 transforms:spectrum of 2");
    expect_error(GML_OPEN "<transforms:spectrumMatrix transforms:id=\"FCS\"><transforms:fluorochromes>"
                          "<data-type:fcs-dimension data-type:name=\"a\"/></transforms:fluorochromes>"
                          "<transforms:detectors><data-type:fcs-dimension data-type:name=\"X\"/>"
                          "</transforms:detectors><transforms:spectrum><transforms:coefficient "
                          "transforms:value=\"1\"/></transforms:spectrum></transforms:spectrumMatrix>"
                     GML_CLOSE,
                 FCS_EINVAL, "id is reserved");
    /* not Gating-ML, not XML, DTDs */
    expect_error("<?xml version=\"1.0\"?>\n<Gating-ML/>\n", FCS_EFORMAT,
                 "not a Gating-ML 2.0 document");
    expect_error(GML_OPEN "<gating:RectangleGate gating:id=\"R\">\n" GML_CLOSE, FCS_EFORMAT,
                 "t.xml:4: XML: ");
    expect_error("", FCS_EFORMAT, "t.xml");
    expect_error("<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY a \"aaaa\">]>\n<x>&a;</x>\n",
                 FCS_EFORMAT, "a DTD is not allowed");
    expect_error("<?xml version=\"1.0\"?>\n<!DOCTYPE x SYSTEM \"file:///etc/passwd\">\n<x/>\n",
                 FCS_EFORMAT, "a DTD is not allowed");
}

static void test_library_prints_nothing(void **state)
{
    (void)state;
    /* Malformed XML makes libxml2 report errors; they must reach our
     * message only. Redirect stderr to a file and check it stays empty. */
    const char *path = tu_tmp_path("gml_stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    fcs_strategy *s;
    fcs_error err;
    int rc1 = read_xml("<a><b></a>", &s, &err);
    int rc2 = read_xml("<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"/etc/passwd\">]>"
                       "<x>&e;</x>", &s, &err);
    int rc3 = read_xml("\xff\xfe<<<", &s, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    assert_int_equal(rc1, FCS_EFORMAT);
    assert_int_equal(rc2, FCS_EFORMAT);
    assert_int_equal(rc3, FCS_EFORMAT);
    size_t len = 99;
    char *txt = tu_read_file(path, &len);
    assert_non_null(txt);
    if (len) fprintf(stderr, "stderr got: %s\n", txt);
    assert_int_equal(len, 0);
    free(txt);
}

static void test_read_file(void **state)
{
    (void)state;
    fcs_strategy *s;
    fcs_error err;
    assert_int_equal(fcs_gatingml_read(&s, "/nonexistent/gates.xml", &err), FCS_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/gates.xml"));
    const char *path = tu_tmp_path("gml_read.xml");
    assert_int_equal(tu_write_file(path, ALL_XML, strlen(ALL_XML)), 0);
    assert_int_equal(fcs_gatingml_read(&s, path, &err), FCS_OK);
    assert_int_equal(fcs_strategy_n_gates(s), 6);
    fcs_strategy_free(s);
}

/* ---- export ------------------------------------------------------------------------ */

static void same_dim(const fcs_gate_dim *a, const fcs_gate_dim *b)
{
#define SAME_STR(x, y) \
    do { \
        if ((x) || (y)) { \
            assert_non_null(x); \
            assert_non_null(y); \
            assert_string_equal(x, y); \
        } \
    } while (0)
    SAME_STR(a->name, b->name);
    SAME_STR(a->ratio, b->ratio);
    SAME_STR(a->transform, b->transform);
    /* NULL compensation is written as "uncompensated" */
    const char *ca = a->compensation ? a->compensation : "uncompensated";
    const char *cb = b->compensation ? b->compensation : "uncompensated";
    assert_string_equal(ca, cb);
}

static void same_doubles(const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true((isnan(a[i]) && isnan(b[i])) || a[i] == b[i]);
}

/* Two strategies describe the same gates, transformations and matrices. */
static void same_strategy(const fcs_strategy *a, const fcs_strategy *b)
{
    assert_int_equal(fcs_strategy_n_gates(a), fcs_strategy_n_gates(b));
    for (size_t i = 0; i < fcs_strategy_n_gates(a); i++) {
        fcs_gate_info x, y;
        assert_int_equal(fcs_strategy_gate(a, i, &x), FCS_OK);
        assert_int_equal(fcs_strategy_gate(b, i, &y), FCS_OK);
        assert_string_equal(x.id, y.id);
        SAME_STR(x.parent, y.parent);
        assert_int_equal(x.type, y.type);
        assert_int_equal(x.n_dims, y.n_dims);
        for (size_t k = 0; k < x.n_dims; k++) same_dim(&x.dims[k], &y.dims[k]);
        if (x.type == FCS_GATE_RECTANGLE) {
            same_doubles(x.min, y.min, x.n_dims);
            same_doubles(x.max, y.max, x.n_dims);
        }
        assert_int_equal(x.n_vertices, y.n_vertices);
        if (x.n_vertices) same_doubles(x.vertices, y.vertices, 2 * x.n_vertices);
        if (x.type == FCS_GATE_ELLIPSOID) {
            same_doubles(x.mean, y.mean, x.n_dims);
            same_doubles(x.covariance, y.covariance, x.n_dims * x.n_dims);
            assert_true(x.distance_square == y.distance_square);
        }
        assert_int_equal(x.n_dividers, y.n_dividers);
        for (size_t k = 0; k < x.n_dividers; k++) {
            assert_string_equal(x.dividers[k].id, y.dividers[k].id);
            same_dim(&x.dividers[k].dim, &y.dividers[k].dim);
            assert_int_equal(x.dividers[k].n_values, y.dividers[k].n_values);
            same_doubles(x.dividers[k].values, y.dividers[k].values, x.dividers[k].n_values);
        }
        assert_int_equal(x.n_quadrants, y.n_quadrants);
        for (size_t q = 0; q < x.n_quadrants; q++) {
            assert_string_equal(x.quadrants[q].id, y.quadrants[q].id);
            assert_int_equal(x.quadrants[q].n_positions, y.quadrants[q].n_positions);
            for (size_t k = 0; k < x.quadrants[q].n_positions; k++) {
                assert_int_equal(x.quadrants[q].dividers[k], y.quadrants[q].dividers[k]);
                assert_true(x.quadrants[q].locations[k] == y.quadrants[q].locations[k]);
            }
        }
        assert_int_equal(x.op, y.op);
        assert_int_equal(x.n_refs, y.n_refs);
        for (size_t k = 0; k < x.n_refs; k++) {
            assert_string_equal(x.refs[k].id, y.refs[k].id);
            assert_int_equal(x.refs[k].complement, y.refs[k].complement);
        }
    }
    assert_int_equal(fcs_strategy_n_transforms(a), fcs_strategy_n_transforms(b));
    for (size_t i = 0; i < fcs_strategy_n_transforms(a); i++) {
        const char *ia, *ib, *na, *nb, *da, *db;
        const fcs_transform *ta, *tb;
        assert_int_equal(fcs_strategy_transform(a, i, &ia, &ta, &na, &da), FCS_OK);
        assert_int_equal(fcs_strategy_transform(b, i, &ib, &tb, &nb, &db), FCS_OK);
        assert_string_equal(ia, ib);
        assert_string_equal(fcs_transform_string(ta), fcs_transform_string(tb));
        SAME_STR(na, nb);
        SAME_STR(da, db);
    }
    assert_int_equal(fcs_strategy_n_matrices(a), fcs_strategy_n_matrices(b));
    for (size_t i = 0; i < fcs_strategy_n_matrices(a); i++) {
        fcs_gate_matrix_info x, y;
        assert_int_equal(fcs_strategy_matrix(a, i, &x), FCS_OK);
        assert_int_equal(fcs_strategy_matrix(b, i, &y), FCS_OK);
        assert_string_equal(x.id, y.id);
        assert_int_equal(x.inverted, y.inverted);
        assert_int_equal(x.n_fluorochromes, y.n_fluorochromes);
        assert_int_equal(x.n_detectors, y.n_detectors);
        for (size_t k = 0; k < x.n_fluorochromes; k++)
            assert_string_equal(x.fluorochromes[k], y.fluorochromes[k]);
        for (size_t k = 0; k < x.n_detectors; k++)
            assert_string_equal(x.detectors[k], y.detectors[k]);
        size_t n = fcs_matrix_rows(x.matrix) * fcs_matrix_cols(x.matrix);
        assert_int_equal(fcs_matrix_rows(x.matrix), fcs_matrix_rows(y.matrix));
        same_doubles(fcs_matrix_data(x.matrix), fcs_matrix_data(y.matrix), n);
    }
#undef SAME_STR
}

/* Gate n events of channels FSC, FL1, FL2, FL3 with both strategies; the
 * memberships must be identical for every population. */
static void same_membership(const fcs_strategy *a, const fcs_strategy *b)
{
    enum { N = 3000, NCH = 4 };
    const char *ch[NCH] = {"FSC", "FL1", "FL2", "FL3"};
    static double data[NCH][N];
    uint64_t seed = 99;
    for (int j = 0; j < NCH; j++)
        for (int i = 0; i < N; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            data[j][i] = ((double)(seed >> 11) / 9007199254740992.0) * 40 - 5;
        }
    const double *cols[NCH] = {data[0], data[1], data[2], data[3]};
    size_t np = fcs_strategy_n_populations(a);
    assert_int_equal(np, fcs_strategy_n_populations(b));
    fcs_gating *ga, *gb;
    fcs_error err;
    int rc = fcs_gating_new(&ga, a, ch, NCH, NULL, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    assert_int_equal(fcs_gating_new(&gb, b, ch, NCH, NULL, &err), FCS_OK);
    uint8_t **ma = calloc(np, sizeof *ma), **mb = calloc(np, sizeof *mb);
    for (size_t p = 0; p < np; p++) ma[p] = malloc(N), mb[p] = malloc(N);
    assert_int_equal(fcs_gating_run(ga, cols, N, ma), FCS_OK);
    assert_int_equal(fcs_gating_run(gb, cols, N, mb), FCS_OK);
    size_t inside = 0;
    for (size_t p = 0; p < np; p++) {
        assert_memory_equal(ma[p], mb[p], N);
        for (int i = 0; i < N; i++) inside += ma[p][i];
        free(ma[p]), free(mb[p]);
    }
    assert_true(inside > 0); /* the comparison is not vacuous */
    free(ma), free(mb);
    fcs_gating_free(ga);
    fcs_gating_free(gb);
}

/* A strategy with every feature, built through the API, with numbers that
 * need all 17 digits. */
static fcs_strategy *rich_strategy(void)
{
    fcs_strategy *s = fcs_strategy_new();
    fcs_error err;
    fcs_transform *t;
    fcs_logicle_params lp = {1000, 0.5, 4.5, 0.25};
    assert_int_equal(fcs_transform_new_logicle(&lp, &t, &err), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "lg", t, NULL, NULL), FCS_OK);
    fcs_transform_free(t);
    assert_int_equal(fcs_transform_new_fratio(1.0 / 3, 0.1, -2, &t, &err), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "rt", t, "FL1", "FL2"), FCS_OK);
    fcs_transform_free(t);
    assert_int_equal(fcs_transform_new_flin(50, 0.7, &t, &err), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "ln", t, NULL, NULL), FCS_OK);
    fcs_transform_free(t);
    fcs_matrix *m = fcs_matrix_new(2, 3);
    const double v[6] = {1, 0.1, 0.2, 0.3, 1, 1.0 / 7};
    const char *det[3] = {"FL1", "FL2", "FL3"};
    for (int i = 0; i < 6; i++) fcs_matrix_set(m, (size_t)i / 3, (size_t)i % 3, v[i]);
    for (int j = 0; j < 3; j++) assert_int_equal(fcs_matrix_set_name(m, (size_t)j, det[j]), 0);
    assert_int_equal(fcs_matrix_set_row_name(m, 0, "F1"), 0);
    assert_int_equal(fcs_matrix_set_row_name(m, 1, "F2"), 0);
    assert_int_equal(fcs_strategy_add_matrix(s, "spec", m, 0), FCS_OK);
    fcs_matrix_free(m);
    m = fcs_matrix_new(2, 1);
    fcs_matrix_set(m, 0, 0, 0.5), fcs_matrix_set(m, 1, 0, -0.25);
    assert_int_equal(fcs_matrix_set_name(m, 0, "Z"), 0);
    assert_int_equal(fcs_matrix_set_row_name(m, 0, "FL1"), 0);
    assert_int_equal(fcs_matrix_set_row_name(m, 1, "FL3"), 0);
    assert_int_equal(fcs_strategy_add_matrix(s, "inv", m, 1), FCS_OK);
    fcs_matrix_free(m);

    fcs_gate_dim rd[3] = {{"FSC", NULL, NULL, NULL},
                          {"F2", NULL, "spec", "ln"},
                          {NULL, "rt", "inv", NULL}};
    double lo[3] = {0.1, NAN, -1.0 / 3}, hi[3] = {NAN, 0.55, 1e300};
    assert_int_equal(fcs_strategy_add_rectangle(s, "rect", NULL, 3, rd, lo, hi), FCS_OK);
    fcs_gate_dim pd[2] = {{"FL1", NULL, "uncompensated", NULL}, {"FL2", NULL, "FCS", "lg"}};
    const double xy[10] = {0, 0, 30.000000000000004, 0, 30, 0.9, 2.0 / 3, 0.7, 15, 0.3};
    assert_int_equal(fcs_strategy_add_polygon(s, "poly", "rect", pd, 5, xy), FCS_OK);
    fcs_gate_dim ed[3] = {{"FL1", NULL, NULL, NULL}, {"FL3", NULL, NULL, NULL},
                          {"Z", NULL, "inv", NULL}};
    const double mean[3] = {10, 12.5, 0.1}, cov[9] = {30, 5, 0, 5, 40, 1e-3, 0, 1e-3, 20};
    assert_int_equal(fcs_strategy_add_ellipsoid(s, "ell", NULL, 3, ed, mean, cov, 1.7), FCS_OK);
    const double dv1[2] = {5, 15.000000000000002}, dv2[1] = {0.4};
    fcs_gate_divider div[2] = {{"d1", {"FL3", NULL, NULL, NULL}, 2, dv1},
                               {"d2", {"FL2", NULL, NULL, "lg"}, 1, dv2}};
    assert_int_equal(fcs_strategy_add_quadrant_gate(s, "quad", "ell", 2, div), FCS_OK);
    const char *p12[2] = {"d1", "d2"}, *p1[1] = {"d1"};
    const double l1[2] = {10, 0.5}, l2[1] = {-100};
    assert_int_equal(fcs_strategy_add_quadrant(s, "quad", "qA", 2, p12, l1), FCS_OK);
    assert_int_equal(fcs_strategy_add_quadrant(s, "quad", "qB", 1, p1, l2), FCS_OK);
    fcs_gate_ref r[3] = {{"poly", 0}, {"qA", 1}, {"qB", 0}};
    assert_int_equal(fcs_strategy_add_boolean(s, "or", "rect", FCS_GATE_OR, 3, r), FCS_OK);
    assert_int_equal(fcs_strategy_add_boolean(s, "not", NULL, FCS_GATE_NOT, 1, r + 1), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_OK);
    return s;
}

static void test_export_roundtrip(void **state)
{
    (void)state;
    fcs_strategy *s = rich_strategy();
    char *doc;
    size_t len;
    fcs_error err;
    int rc = fcs_gatingml_write_mem(s, &doc, &len, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    assert_int_equal(strlen(doc), len);
    assert_non_null(strstr(doc, "transforms:matrix-inverted-already=\"true\""));
    assert_non_null(strstr(doc, "\"0.3333333333333333\""));  /* shortest for 1/3 */
    assert_non_null(strstr(doc, "\"30.000000000000004\""));  /* needs 17 digits */
    assert_non_null(strstr(doc, "gating:use-as-complement=\"true\""));
    fcs_strategy *b;
    rc = fcs_gatingml_read_mem(&b, doc, len, "export", &err);
    if (rc) fprintf(stderr, "%s\n%s\n", err.msg, doc);
    assert_int_equal(rc, FCS_OK);
    same_strategy(s, b);
    same_membership(s, b);
    /* and once more through a file */
    const char *path = tu_tmp_path("gml_export.xml");
    assert_int_equal(fcs_gatingml_write(b, path, &err), FCS_OK);
    fcs_strategy *c;
    assert_int_equal(fcs_gatingml_read(&c, path, &err), FCS_OK);
    same_strategy(s, c);
    free(doc);
    fcs_strategy_free(s), fcs_strategy_free(b), fcs_strategy_free(c);
}

static void test_export_refuses(void **state)
{
    (void)state;
    fcs_strategy *s = fcs_strategy_new();
    fcs_transform *t;
    fcs_error err;
    assert_int_equal(fcs_transform_new_asinh(150, &t, &err), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "a", t, NULL, NULL), FCS_OK);
    fcs_transform_free(t);
    char *doc = (char *)1;
    size_t len;
    assert_int_equal(fcs_gatingml_write_mem(s, &doc, &len, &err), FCS_EUNSUPPORTED);
    assert_null(doc);
    assert_non_null(strstr(err.msg, "no Gating-ML 2.0 form"));
    fcs_strategy_free(s);
    /* dangling references are refused before writing */
    s = fcs_strategy_new();
    fcs_gate_dim d = {"X", NULL, NULL, NULL};
    double lo = 0, hi = 1;
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", "Up", 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_gatingml_write_mem(s, &doc, &len, &err), FCS_ENOTFOUND);
    const char *path = tu_tmp_path("gml_refused.xml");
    unlink(path);
    assert_int_equal(fcs_gatingml_write(s, path, &err), FCS_ENOTFOUND);
    assert_int_equal(access(path, F_OK), -1); /* nothing left behind */
    fcs_strategy_free(s);
}

/* ---- the ISAC compliance set ---------------------------------------------------------- */

typedef struct data1 {
    size_t n, np;
    double *buf;
    const char *names[64];
    const double *cols[64];
    const fcs_matrix *spill;
    fcs_reader *r;
} data1;

static int load_data1(const char *dir, data1 *d)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/gatingml2/data1.fcs", dir);
    fcs_error err;
    if (fcs_open(&d->r, path, NULL, &err) != FCS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    d->np = fcs_n_params(d->r);
    d->n = (size_t)fcs_n_events(d->r);
    if (d->np > 64) return -1;
    d->buf = malloc(d->np * d->n * sizeof *d->buf);
    /* Channel values by the FCS 3.1 rule (log decoding, $PnG division), as
     * the compliance set assumes; column by column. */
    int64_t got = fcs_read_events(d->r, d->buf, d->n, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS);
    if (got != (int64_t)d->n) return -1;
    for (size_t j = 0; j < d->np; j++) {
        d->names[j] = fcs_param_info(d->r, j)->name;
        d->cols[j] = d->buf + j * d->n;
    }
    d->spill = fcs_spillover(d->r, NULL);
    return 0;
}

/* Gate all of data1 with s; memberships of every population (caller frees). */
static uint8_t **gate_data1(const data1 *d, const fcs_strategy *s, char *msg, size_t msz)
{
    fcs_gating *g;
    fcs_error err;
    if (fcs_gating_new(&g, s, d->names, d->np, d->spill, &err) != FCS_OK) {
        snprintf(msg, msz, "%s", err.msg);
        return NULL;
    }
    size_t np = fcs_strategy_n_populations(s);
    uint8_t **mem = calloc(np, sizeof *mem);
    for (size_t p = 0; p < np; p++) mem[p] = malloc(d->n);
    if (fcs_gating_run(g, d->cols, d->n, mem) != FCS_OK) {
        snprintf(msg, msz, "%s", fcs_gating_errmsg(g));
        for (size_t p = 0; p < np; p++) free(mem[p]);
        free(mem);
        mem = NULL;
    }
    fcs_gating_free(g);
    return mem;
}

static void free_mem(uint8_t **mem, size_t np)
{
    for (size_t p = 0; mem && p < np; p++) free(mem[p]);
    free(mem);
}

/* Compare one population with its truth file (one 0/1 per line). */
static int check_truth(const char *path, const uint8_t *m, size_t n, char *msg, size_t msz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, msz, "cannot open %.400s", path);
        return 0;
    }
    size_t bad = 0, first = 0, i;
    for (i = 0; i < n; i++) {
        int v;
        if (fscanf(f, "%d", &v) != 1) break;
        if ((v != 0) != (m[i] != 0) && bad++ == 0) first = i;
    }
    int extra;
    int more = fscanf(f, "%d", &extra) == 1;
    fclose(f);
    if (i < n || more) {
        snprintf(msg, msz, "truth has %s events than the data", i < n ? "fewer" : "more");
        return 0;
    }
    if (bad) snprintf(msg, msz, "%zu events differ, first is event %zu", bad, first);
    return bad == 0;
}

static void test_compliance_set(void **state)
{
    (void)state;
    const char *dir = tu_corpus_dir();
    if (!dir) {
        skip();
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/gatingml2/cases.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("gatingml2/cases.tsv not found in %s: skipped\n", dir);
        skip();
        return;
    }
    data1 d;
    memset(&d, 0, sizeof d);
    assert_int_equal(load_data1(dir, &d), 0);
    char line[2048];
    int total = 0, pass = 0, rt_pass = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        char fcs[256], xml[512], gid[256], truth[512];
        long n_events, n_in;
        if (sscanf(line, "%255s %511s %255s %511s %ld %ld", fcs, xml, gid, truth, &n_events,
                   &n_in) != 6)
            continue;
        total++;
        assert_string_equal(fcs, "data1.fcs");
        assert_int_equal(n_events, (long)d.n);
        char xpath[1024], tpath[1024], msg[FCS_ERRMSG_MAX] = "";
        snprintf(xpath, sizeof xpath, "%s/gatingml2/%s", dir, xml);
        snprintf(tpath, sizeof tpath, "%s/gatingml2/%s", dir, truth);
        fcs_strategy *s = NULL, *s2 = NULL;
        fcs_error err;
        int ok = 0, ok2 = 0;
        if (fcs_gatingml_read(&s, xpath, &err) != FCS_OK) {
            snprintf(msg, sizeof msg, "%s", err.msg);
        } else {
            long pi = fcs_strategy_population_index(s, gid);
            uint8_t **mem = pi < 0 ? NULL : gate_data1(&d, s, msg, sizeof msg);
            if (pi < 0) snprintf(msg, sizeof msg, "no population '%s'", gid);
            if (mem) {
                ok = check_truth(tpath, mem[pi], d.n, msg, sizeof msg);
                size_t cnt = 0;
                for (size_t i = 0; i < d.n; i++) cnt += mem[pi][i];
                if (ok && (long)cnt != n_in) ok = 0, snprintf(msg, sizeof msg, "count %zu", cnt);
            }
            /* The same case after export → import. */
            char *doc;
            size_t len;
            if (fcs_gatingml_write_mem(s, &doc, &len, &err) == FCS_OK &&
                fcs_gatingml_read_mem(&s2, doc, len, "export", &err) == FCS_OK) {
                uint8_t **mem2 = gate_data1(&d, s2, msg, sizeof msg);
                size_t np = fcs_strategy_n_populations(s);
                ok2 = mem && mem2 && fcs_strategy_n_populations(s2) == np;
                for (size_t p = 0; ok2 && p < np; p++)
                    ok2 = memcmp(mem[p], mem2[p], d.n) == 0;
                free_mem(mem2, fcs_strategy_n_populations(s2));
                free(doc);
            }
            free_mem(mem, fcs_strategy_n_populations(s));
        }
        pass += ok;
        rt_pass += ok2;
        if (!ok) printf("FAIL %s in %s: %s\n", gid, xml, msg);
        else if (!ok2) printf("FAIL round trip %s in %s\n", gid, xml);
        fcs_strategy_free(s);
        fcs_strategy_free(s2);
    }
    fclose(f);
    printf("Gating-ML 2.0 compliance: %d/%d passed (%d/%d after export and re-import)\n", pass,
           total, rt_pass, total);
    free(d.buf);
    fcs_close(d.r);
    assert_int_equal(total, 100);
    assert_int_equal(pass, total);
    assert_int_equal(rt_pass, total);
}

static void test_compliance_file_with_stray_element(void **state)
{
    (void)state;
    /* gml_range_gate_attr_testing.xml wraps its gate in a <sample> element
     * that Gating-ML does not define: refused, naming element and line. */
    const char *dir = tu_corpus_dir();
    if (!dir) {
        skip();
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/gatingml2/gml/gml_range_gate_attr_testing.xml", dir);
    if (access(path, R_OK) != 0) {
        skip();
        return;
    }
    fcs_strategy *s;
    fcs_error err;
    assert_int_equal(fcs_gatingml_read(&s, path, &err), FCS_EFORMAT);
    assert_non_null(strstr(err.msg, "gml_range_gate_attr_testing.xml:7: sample: unknown element"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_every_element),
        cmocka_unit_test(test_read_and_gate),
        cmocka_unit_test(test_errors_name_element_and_line),
        cmocka_unit_test(test_library_prints_nothing),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_export_roundtrip),
        cmocka_unit_test(test_export_refuses),
        cmocka_unit_test(test_compliance_set),
        cmocka_unit_test(test_compliance_file_with_stray_element),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
