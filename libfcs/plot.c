/*
 * plot.c — density plots and histograms of events with gates drawn on top
 * (fcs/plot.h): binning on transformed scales, the colour map, axis ticks,
 * gate outlines in plot coordinates, and two renderers of one layout: SVG
 * text and an RGB raster (encoded by png.c).
 *
 * One layout, two painters. draw_plot() places every element in SVG units
 * and calls a small painter interface (rectangles, polylines, text, the
 * density image, the histogram, the colour bar); the SVG painter writes
 * elements, the raster painter fills pixels. Both pictures therefore show
 * the same things at the same places.
 *
 * Gates are kept as polylines in normalised plot coordinates (u, v in
 * [0, 1] across the plot area, v upwards), computed when they are added,
 * so rendering needs no transforms.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/plot.h"
#include "internal.h"
#include "growbuf.h"

/* viridis-like colour table (see fcs_colormap_viridis) */
/* clang-format off */
static const uint8_t VIRIDIS[256 * 3] = {
    68, 1, 84, 68, 2, 85, 68, 4, 87, 69, 5, 88,
    69, 7, 90, 69, 8, 91, 69, 10, 92, 69, 11, 94,
    69, 12, 95, 70, 14, 97, 70, 15, 98, 70, 17, 99,
    70, 18, 101, 70, 19, 102, 70, 21, 103, 70, 22, 105,
    71, 24, 106, 71, 25, 107, 71, 26, 108, 71, 28, 109,
    71, 29, 111, 71, 31, 112, 71, 32, 113, 71, 33, 114,
    71, 35, 115, 71, 36, 116, 71, 37, 117, 71, 39, 118,
    71, 40, 119, 71, 41, 120, 71, 43, 121, 71, 44, 122,
    71, 45, 123, 71, 46, 124, 71, 48, 125, 70, 49, 126,
    70, 50, 126, 70, 51, 127, 70, 53, 128, 69, 54, 128,
    69, 55, 129, 69, 56, 130, 68, 58, 130, 68, 59, 131,
    68, 60, 132, 67, 61, 132, 67, 62, 133, 67, 63, 133,
    66, 65, 134, 66, 66, 134, 66, 67, 135, 65, 68, 135,
    65, 69, 135, 64, 70, 136, 64, 71, 136, 63, 73, 137,
    63, 74, 137, 62, 75, 137, 62, 76, 138, 61, 77, 138,
    61, 78, 138, 60, 79, 138, 60, 80, 139, 59, 81, 139,
    59, 82, 139, 58, 83, 139, 58, 84, 140, 58, 85, 140,
    57, 86, 140, 57, 88, 140, 56, 89, 140, 56, 90, 140,
    55, 91, 141, 55, 92, 141, 55, 93, 141, 54, 94, 141,
    54, 95, 141, 53, 96, 141, 53, 97, 141, 52, 98, 141,
    52, 99, 142, 51, 100, 142, 51, 101, 142, 50, 102, 142,
    50, 103, 142, 49, 104, 142, 49, 105, 142, 48, 106, 142,
    48, 107, 142, 47, 108, 142, 47, 109, 142, 46, 110, 142,
    46, 111, 142, 45, 112, 142, 45, 113, 142, 44, 114, 142,
    44, 115, 142, 43, 116, 142, 43, 117, 142, 42, 118, 142,
    42, 119, 142, 41, 120, 142, 41, 121, 142, 40, 122, 142,
    40, 123, 142, 39, 124, 142, 39, 125, 142, 39, 126, 142,
    38, 127, 142, 38, 128, 142, 37, 129, 142, 37, 130, 142,
    37, 131, 141, 36, 132, 141, 36, 133, 141, 36, 134, 141,
    35, 135, 141, 35, 136, 141, 35, 137, 141, 34, 138, 141,
    34, 139, 141, 34, 140, 141, 34, 141, 141, 34, 142, 141,
    33, 143, 140, 33, 144, 140, 33, 145, 140, 33, 146, 140,
    33, 147, 140, 33, 148, 140, 32, 149, 139, 32, 150, 139,
    32, 151, 139, 32, 152, 139, 32, 153, 139, 32, 154, 138,
    32, 155, 138, 32, 156, 138, 32, 157, 137, 32, 158, 137,
    32, 159, 137, 32, 160, 137, 32, 161, 136, 32, 162, 136,
    33, 162, 136, 33, 163, 135, 33, 164, 135, 33, 165, 134,
    34, 165, 134, 34, 166, 133, 35, 166, 133, 35, 167, 133,
    35, 168, 132, 36, 168, 132, 36, 169, 131, 37, 170, 131,
    38, 171, 130, 38, 172, 129, 39, 173, 129, 40, 174, 128,
    41, 175, 128, 42, 176, 127, 43, 177, 126, 44, 177, 126,
    45, 178, 125, 47, 179, 124, 48, 180, 124, 49, 181, 123,
    51, 182, 122, 52, 183, 122, 54, 184, 121, 55, 184, 120,
    57, 185, 119, 58, 186, 118, 60, 187, 117, 61, 188, 116,
    63, 189, 115, 65, 190, 114, 67, 190, 114, 69, 191, 112,
    70, 192, 111, 72, 193, 110, 74, 194, 109, 76, 195, 108,
    78, 195, 107, 80, 196, 106, 82, 197, 105, 85, 198, 103,
    87, 199, 102, 89, 199, 101, 91, 200, 100, 93, 201, 98,
    96, 202, 97, 98, 202, 96, 100, 203, 94, 102, 204, 93,
    104, 204, 91, 106, 205, 90, 108, 206, 88, 111, 206, 87,
    113, 207, 85, 115, 208, 84, 118, 208, 82, 120, 209, 81,
    123, 210, 79, 125, 210, 77, 128, 211, 76, 130, 211, 74,
    133, 212, 72, 135, 213, 71, 138, 213, 69, 140, 214, 68,
    143, 214, 66, 146, 215, 64, 148, 215, 63, 151, 216, 61,
    154, 217, 59, 156, 217, 58, 159, 218, 56, 162, 218, 54,
    164, 219, 53, 167, 219, 51, 170, 219, 50, 173, 220, 48,
    175, 220, 47, 178, 221, 45, 181, 221, 44, 184, 222, 43,
    187, 222, 41, 190, 223, 40, 193, 223, 39, 195, 223, 38,
    198, 224, 37, 201, 224, 36, 204, 224, 35, 206, 225, 34,
    209, 225, 33, 212, 225, 32, 214, 226, 32, 217, 226, 31,
    220, 227, 31, 222, 227, 30, 225, 227, 30, 227, 227, 30,
    230, 228, 30, 232, 228, 30, 235, 228, 30, 237, 229, 30,
    239, 229, 30, 241, 229, 31, 243, 230, 31, 245, 230, 32,
    247, 230, 33, 249, 230, 34, 251, 231, 36, 253, 231, 37,
};

/* 5x9 bitmap font, ASCII 32..126: rows top to bottom, bit 4 = leftmost
 * column; rows 0-6 stand on the baseline, rows 7-8 descend below it. */
static const uint8_t FONT[95][9] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /*   */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00, 0x00}, /* ! */
    {0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a, 0x00, 0x00}, /* # */
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04, 0x00, 0x00}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00, 0x00}, /* % */
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d, 0x00, 0x00}, /* & */
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00, 0x00}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00, 0x00}, /* ) */
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00, 0x00, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x00, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x04, 0x08, 0x00}, /* , */
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x00, 0x00}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00, 0x00}, /* / */
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e, 0x00, 0x00}, /* 0 */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00}, /* 1 */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f, 0x00, 0x00}, /* 2 */
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e, 0x00, 0x00}, /* 3 */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02, 0x00, 0x00}, /* 4 */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e, 0x00, 0x00}, /* 5 */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e, 0x00, 0x00}, /* 6 */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00, 0x00}, /* 7 */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e, 0x00, 0x00}, /* 8 */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c, 0x00, 0x00}, /* 9 */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00, 0x00, 0x00}, /* : */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x04, 0x08, 0x00}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00, 0x00}, /* < */
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00, 0x00}, /* > */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00, 0x00}, /* ? */
    {0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e, 0x00, 0x00}, /* @ */
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00, 0x00}, /* A */
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e, 0x00, 0x00}, /* B */
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e, 0x00, 0x00}, /* C */
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c, 0x00, 0x00}, /* D */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f, 0x00, 0x00}, /* E */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x00, 0x00}, /* F */
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f, 0x00, 0x00}, /* G */
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00, 0x00}, /* H */
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00, 0x00}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00, 0x00}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f, 0x00, 0x00}, /* L */
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00, 0x00}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00, 0x00}, /* N */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00}, /* O */
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10, 0x00, 0x00}, /* P */
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d, 0x00, 0x00}, /* Q */
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11, 0x00, 0x00}, /* R */
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e, 0x00, 0x00}, /* S */
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00, 0x00}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a, 0x00, 0x00}, /* W */
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11, 0x00, 0x00}, /* X */
    {0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x00, 0x00}, /* Y */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f, 0x00, 0x00}, /* Z */
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e, 0x00, 0x00}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00, 0x00}, /* \ */
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e, 0x00, 0x00}, /* ] */
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00, 0x00}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e, 0x00, 0x00}, /* b */
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e, 0x00, 0x00}, /* c */
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f, 0x00, 0x00}, /* d */
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00, 0x00}, /* e */
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08, 0x00, 0x00}, /* f */
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e, 0x00}, /* g */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00}, /* h */
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00, 0x00}, /* k */
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00}, /* l */
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11, 0x00, 0x00}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00}, /* n */
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00}, /* o */
    {0x00, 0x00, 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x00}, /* p */
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x01, 0x00}, /* q */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00, 0x00}, /* r */
    {0x00, 0x00, 0x0f, 0x10, 0x0e, 0x01, 0x1e, 0x00, 0x00}, /* s */
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06, 0x00, 0x00}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d, 0x00, 0x00}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00, 0x00}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a, 0x00, 0x00}, /* w */
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00, 0x00}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e, 0x00}, /* y */
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f, 0x00, 0x00}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00, 0x00}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00, 0x00}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00, 0x00}, /* ~ */
};
/* clang-format on */

/* ---- colour map and density levels ------------------------------------------------ */

/* The table above is the polynomial fit of matplotlib's viridis (Stefan van
 * der Walt and Nathaniel Smith, CC0) by Matt Zucker, corrected piecewise
 * linearly to pass through viridis' nine standard anchor colours
 * (#440154 #472d7b #3b528b #2c728e #21918c #28ae80 #5ec962 #addc30 #fde725;
 * the ends exactly), rounded to 8 bits, and nudged (green raised by at most
 * 3) where rounding made the CIELAB lightness of an entry not exceed the
 * previous one: lightness rises strictly from L* 14.9 to 90.9, so more
 * events always look brighter (tested in test_plot.c). */
const uint8_t *fcs_colormap_viridis(void) { return VIRIDIS; }

int fcs_density_level(uint64_t count, uint64_t max_count, int linear)
{
    if (count == 0 || max_count == 0) return 0;
    if (count > max_count) count = max_count;
    double f = 1.0;
    if (max_count > 1)
        f = linear ? (double)count / (double)max_count
                   : log((double)count) / log((double)max_count);
    return 1 + (int)lround(254.0 * f);
}

void fcs_density_color(int level, uint8_t rgb[3])
{
    if (level < 1 || level > FCS_DENSITY_LEVELS) {
        rgb[0] = rgb[1] = rgb[2] = 255;
        return;
    }
    int e = ((level - 1) * 255 + 127) / 254; /* round((l - 1) * 255 / 254) */
    memcpy(rgb, VIRIDIS + 3 * e, 3);
}

/* ---- binning ------------------------------------------------------------------------ */

struct fcs_hist {
    size_t nx, ny;
    double xlo, xhi, ylo, yhi;
    int clamp;
    uint64_t *counts;
    uint64_t max;
    fcs_hist_tally tally;
};

static int bounds_ok(double lo, double hi) { return isfinite(lo) && isfinite(hi) && lo < hi; }

int fcs_hist_new(fcs_hist **out, size_t nx, double xlo, double xhi, size_t ny, double ylo,
                 double yhi, int clamp, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "histogram: NULL argument");
    *out = NULL;
    if (ny == 1) ylo = 0, yhi = 1;
    if (nx < 1 || ny < 1 || nx > 65536 || ny > 65536 || nx * ny > ((size_t)1 << 26))
        return fcs_error_set(err, FCS_EINVAL, "histogram: %zu x %zu bins out of range", nx, ny);
    if (!bounds_ok(xlo, xhi) || !bounds_ok(ylo, yhi))
        return fcs_error_set(err, FCS_EINVAL,
                             "histogram: bounds [%g, %g] x [%g, %g] are not finite with lo < hi",
                             xlo, xhi, ylo, yhi);
    fcs_hist *h = calloc(1, sizeof *h);
    if (h) h->counts = calloc(nx * ny, sizeof *h->counts);
    if (!h || !h->counts) {
        free(h);
        return fcs_error_set(err, FCS_ENOMEM, "histogram: out of memory");
    }
    h->nx = nx, h->ny = ny;
    h->xlo = xlo, h->xhi = xhi, h->ylo = ylo, h->yhi = yhi;
    h->clamp = clamp != 0;
    *out = h;
    return FCS_OK;
}

void fcs_hist_free(fcs_hist *h)
{
    if (!h) return;
    free(h->counts);
    free(h);
}

/* Bin of a non-NaN position; *off set when v is off scale (then the edge
 * bin is returned: the caller decides whether to keep it). */
static size_t bin_of(double v, double lo, double hi, size_t n, int *off)
{
    if (v < lo) {
        *off = 1;
        return 0;
    }
    if (v >= hi) {
        *off |= v > hi;
        return n - 1;
    }
    double f = floor((v - lo) / (hi - lo) * (double)n);
    /* f is in [0, n) mathematically; rounding may reach n for v just below hi. */
    return f >= (double)n ? n - 1 : (f < 0 ? 0 : (size_t)f);
}

long fcs_hist_bin(double v, double lo, double hi, size_t n, int clamp)
{
    if (isnan(v) || n == 0 || !bounds_ok(lo, hi)) return -1;
    int off = 0;
    size_t b = bin_of(v, lo, hi, n, &off);
    return off && !clamp ? -1 : (long)b;
}

int fcs_hist_add(fcs_hist *h, const double *x, const double *y, const uint8_t *mask, size_t n)
{
    if (!h || (n && (!x || (h->ny > 1 && !y)))) return FCS_EINVAL;
    int two_d = h->ny > 1;
    for (size_t i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        double xv = x[i], yv = two_d ? y[i] : 0.5;
        if (isnan(xv) || isnan(yv)) {
            h->tally.nan++;
            continue;
        }
        int off = 0;
        size_t ix = bin_of(xv, h->xlo, h->xhi, h->nx, &off);
        size_t iy = two_d ? bin_of(yv, h->ylo, h->yhi, h->ny, &off) : 0;
        if (off && !h->clamp) {
            h->tally.dropped++;
            continue;
        }
        uint64_t *c = &h->counts[iy * h->nx + ix];
        if (*c == UINT64_MAX) return FCS_ERANGE;
        if (++*c > h->max) h->max = *c;
        h->tally.binned++;
        h->tally.clamped += (uint64_t)off;
    }
    return FCS_OK;
}

size_t fcs_hist_nx(const fcs_hist *h) { return h ? h->nx : 0; }
size_t fcs_hist_ny(const fcs_hist *h) { return h ? h->ny : 0; }
const uint64_t *fcs_hist_counts(const fcs_hist *h) { return h ? h->counts : NULL; }
uint64_t fcs_hist_max(const fcs_hist *h) { return h ? h->max : 0; }

void fcs_hist_get_tally(const fcs_hist *h, fcs_hist_tally *out)
{
    if (!out) return;
    if (h)
        *out = h->tally;
    else
        memset(out, 0, sizeof *out);
}

/* ---- scales ----------------------------------------------------------------------- */

double fcs_plot_scale_forward(const fcs_plot_scale *s, double v)
{
    if (!s) return v;
    if (s->applied) v = fcs_transform_value(s->applied, v);
    if (s->display) v = fcs_transform_value(s->display, v);
    return v;
}

double fcs_plot_scale_inverse(const fcs_plot_scale *s, double pos)
{
    if (!s) return pos;
    if (s->display) pos = fcs_transform_inverse_value(s->display, pos);
    if (s->applied) pos = fcs_transform_inverse_value(s->applied, pos);
    return pos;
}

static int is_linear_kind(int k)
{
    return k == 0 || k == FCS_TRANSFORM_LINEAR || k == FCS_TRANSFORM_FLIN;
}

int fcs_plot_scale_kind(const fcs_plot_scale *s)
{
    if (!s) return 0;
    int kd = s->display ? (int)fcs_transform_get_kind(s->display) : 0;
    if (!is_linear_kind(kd)) return kd;
    int ka = s->applied ? (int)fcs_transform_get_kind(s->applied) : 0;
    return is_linear_kind(ka) ? 0 : ka;
}

/* ---- ticks ------------------------------------------------------------------------- */

typedef struct tick_ctx {
    const fcs_plot_scale *s;
    double lo, hi, gap;
    fcs_plot_tick *t;
    size_t n, cap;
    int nomem;
} tick_ctx;

/* Position of data value v as a fraction of the axis. */
static double npos(const tick_ctx *c, double v)
{
    return (fcs_plot_scale_forward(c->s, v) - c->lo) / (c->hi - c->lo);
}

static double ndist(const tick_ctx *c, double a, double b) { return fabs(npos(c, a) - npos(c, b)); }

static void add_tick(tick_ctx *c, double v, int major, const char *label)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        fcs_plot_tick *t = realloc(c->t, cap * sizeof *t);
        if (!t) {
            c->nomem = 1;
            return;
        }
        c->t = t;
        c->cap = cap;
    }
    fcs_plot_tick *t = &c->t[c->n++];
    t->value = v;
    t->pos = fcs_plot_scale_forward(c->s, v);
    t->major = major;
    snprintf(t->label, sizeof t->label, "%s", major && label ? label : "");
}

/* 10^k correctly rounded (pow need not be for negative k). */
static double pow10i(int k)
{
    char buf[16];
    snprintf(buf, sizeof buf, "1e%d", k);
    return strtod(buf, NULL);
}

/* m x 10^e exactly as the decimal says (division for e < 0: 0.1 is not a
 * double, but 1/10 rounds correctly). */
static double scaled(long long m, int e)
{
    return e >= 0 ? (double)m * pow10i(e) : (double)m / pow10i(-e);
}

/* Label of m x 10^e: digits with the decimal point placed, no exponent;
 * numbers that would need more than 12 characters as %.6g ("1e+15"). */
static void decimal_label(char *buf, size_t n, long long m, int e)
{
    char digits[64], text[96];
    int neg = m < 0;
    unsigned long long a = neg ? (unsigned long long)(-(m + 1)) + 1 : (unsigned long long)m;
    if (a == 0) {
        snprintf(buf, n, "0");
        return;
    }
    if (e > 20 || e < -20) {
        text[0] = '\0';
    } else if (e >= 0) {
        snprintf(text, sizeof text, "%s%llu%.*s", neg ? "-" : "", a, e, "00000000000000000000");
    } else {
        int len = snprintf(digits, sizeof digits, "%0*llu", -e + 1, a);
        int point = len + e; /* digits before the decimal point */
        int end = len;
        while (end > point && digits[end - 1] == '0') end--;
        snprintf(text, sizeof text, "%s%.*s%s%.*s", neg ? "-" : "", point, digits,
                 end > point ? "." : "", end - point, digits + point);
    }
    if (!text[0] || strlen(text) > 12) snprintf(text, sizeof text, "%.6g", scaled(m, e));
    snprintf(buf, n, "%s", text);
}

/* Linear scales: the smallest round step whose labels are far enough apart
 * (and at least an eighth of the axis, so that a tiny min_gap does not give
 * a crowd of labels), with 4 minor ticks per step. */
static void linear_ticks(tick_ctx *c, double dlo, double dhi)
{
    double span = dhi - dlo, want = fmax(c->gap, 0.12) * span;
    int e = (int)floor(log10(want)) - 1;
    static const int steps[3] = {1, 2, 5};
    int m = 1;
    for (;; e++) {
        int k;
        for (k = 0; k < 3 && scaled(steps[k], e) < want; k++) continue;
        if (k < 3) {
            m = steps[k];
            break;
        }
    }
    double step = scaled(m, e);
    if (fmax(fabs(dlo), fabs(dhi)) / step > 1e14) { /* labels would need > 15 digits */
        char buf[FCS_PLOT_LABEL_MAX];
        snprintf(buf, sizeof buf, "%.6g", dlo);
        add_tick(c, dlo, 1, buf);
        snprintf(buf, sizeof buf, "%.6g", dhi);
        add_tick(c, dhi, 1, buf);
        return;
    }
    /* Minor step = step / 5 = 2m x 10^(e-1); every 5th minor is a major. */
    long long k0 = (long long)ceil(dlo / scaled(2 * m, e - 1) - 1e-9);
    long long k1 = (long long)floor(dhi / scaled(2 * m, e - 1) + 1e-9);
    for (long long k = k0; k <= k1; k++) {
        double v = scaled(2 * m * k, e - 1);
        if (v < dlo || v > dhi) continue;
        if (k % 5 == 0) {
            char buf[FCS_PLOT_LABEL_MAX];
            decimal_label(buf, sizeof buf, m * (k / 5), e);
            add_tick(c, v, 1, buf);
        } else {
            add_tick(c, v, 0, NULL);
        }
    }
}

static int floor_log10(double v)
{
    int k = (int)floor(log10(v));
    if (pow10i(k + 1) <= v) k++;
    if (pow10i(k) > v) k--;
    return k;
}

/* Decades of one sign (sign = +1 or -1) for log-like scales, walking from
 * the outermost decade towards zero. has_zero: zero is on the axis (then no
 * decade may crowd it). */
static void decade_ticks(tick_ctx *c, double dlo, double dhi, int sign, int has_zero)
{
    double top = sign > 0 ? dhi : -dlo; /* largest magnitude on this side */
    double bottom = sign > 0 ? dlo : -dhi;
    if (!(top > 0)) return;
    int k_top = floor_log10(top);
    int k_min = has_zero ? k_top - 40 : floor_log10(bottom > 0 ? bottom : top) - 1;
    double last = NAN; /* last major kept */
    for (int k = k_top; k >= k_min && k > -320; k--) {
        double v = sign * pow10i(k), up = sign * pow10i(k + 1);
        int near_zero = has_zero && ndist(c, v, 0) < c->gap;
        if (v >= dlo && v <= dhi && !near_zero && (isnan(last) || ndist(c, v, last) >= c->gap)) {
            char buf[FCS_PLOT_LABEL_MAX];
            snprintf(buf, sizeof buf, "%s10^%d", sign < 0 ? "-" : "", k);
            add_tick(c, v, 1, buf);
            last = v;
        }
        if (ndist(c, v, up) >= 2 * c->gap) /* the decade is long enough for minor ticks */
            for (int m = 2; m <= 9; m++) {
                double w = sign * scaled(m, k);
                if (w >= dlo && w <= dhi && (!has_zero || ndist(c, w, 0) >= c->gap / 2))
                    add_tick(c, w, 0, NULL);
            }
        if (near_zero) break; /* every smaller decade is nearer still */
    }
}

static int tick_cmp(const void *a, const void *b)
{
    double x = ((const fcs_plot_tick *)a)->value, y = ((const fcs_plot_tick *)b)->value;
    return (x > y) - (x < y);
}

int fcs_plot_ticks(const fcs_plot_scale *s, double lo, double hi, double min_gap,
                   fcs_plot_tick *out, size_t max, size_t *n)
{
    if (!n || (max && !out) || !bounds_ok(lo, hi) || !(min_gap >= 0.01 && min_gap <= 0.5))
        return FCS_EINVAL;
    *n = 0;
    if ((s && s->applied && fcs_transform_arity(s->applied) != 1) ||
        (s && s->display && fcs_transform_arity(s->display) != 1))
        return FCS_EINVAL;
    double dlo = fcs_plot_scale_inverse(s, lo), dhi = fcs_plot_scale_inverse(s, hi);
    if (!isfinite(dlo) || !isfinite(dhi) || dlo == dhi) return FCS_EINVAL;
    if (dlo > dhi) { /* a decreasing scale */
        double t = dlo;
        dlo = dhi;
        dhi = t;
    }
    tick_ctx c = {s, lo, hi, min_gap, NULL, 0, 0, 0};
    int kind = fcs_plot_scale_kind(s);
    if (is_linear_kind(kind)) {
        linear_ticks(&c, dlo, dhi);
    } else if (kind == FCS_TRANSFORM_LOG || kind == FCS_TRANSFORM_FLOG) {
        if (dlo <= 0) dlo = nextafter(0.0, 1.0);
        decade_ticks(&c, dlo, dhi, +1, 0);
    } else {
        int has_zero = dlo <= 0 && dhi >= 0;
        if (has_zero) add_tick(&c, 0.0, 1, "0");
        decade_ticks(&c, dlo, dhi, +1, has_zero);
        decade_ticks(&c, dlo, dhi, -1, has_zero);
    }
    if (c.nomem) {
        free(c.t);
        return FCS_ENOMEM;
    }
    if (c.n) qsort(c.t, c.n, sizeof *c.t, tick_cmp);
    *n = c.n;
    int rc = c.n > max ? FCS_ERANGE : FCS_OK;
    if (rc == FCS_OK && c.n) memcpy(out, c.t, c.n * sizeof *c.t);
    free(c.t);
    return rc;
}

/* Length of the valid UTF-8 sequence at s (1..4) whose code point XML
 * allows, or 0. */
static size_t utf8_valid(const unsigned char *s, size_t left)
{
    uint32_t cp;
    size_t n = fcs_utf8_decode(s, left, &cp);
    return (n && (cp == 0xfffe || cp == 0xffff)) ? 0 : n;
}

/* Text as XML character data / attribute value: escaped, valid UTF-8
 * (invalid bytes read as Latin-1), control characters as U+FFFD. */
static void sb_xml(fcs_sbuf *b, const char *text)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t left = strlen((const char *)s);
    while (left) {
        unsigned c = *s;
        size_t n = utf8_valid(s, left);
        if (c == '&')
            fcs_sb_puts(b, "&amp;");
        else if (c == '<')
            fcs_sb_puts(b, "&lt;");
        else if (c == '>')
            fcs_sb_puts(b, "&gt;");
        else if (c == '"')
            fcs_sb_puts(b, "&quot;");
        else if (c == '\'')
            fcs_sb_puts(b, "&apos;");
        else if (c < 0x20 || c == 0x7f)
            fcs_sb_puts(b, "\xef\xbf\xbd");
        else if (n)
            fcs_sb_put(b, (const char *)s, n);
        else { /* Latin-1 byte */
            char two[2] = {(char)(0xc0 | (c >> 6)), (char)(0x80 | (c & 0x3f))};
            fcs_sb_put(b, two, 2);
        }
        if (!n) n = 1;
        s += n;
        left -= n;
    }
}

static void sb_base64(fcs_sbuf *b, const uint8_t *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fcs_sb_reserve(b, (n + 2) / 3 * 4);
    if (b->nomem) return;
    char *o = b->s + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63],
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->s);
    b->s[b->len] = '\0';
}

/* ---- the plot object ------------------------------------------------------------------ */

#define MAX_NOTES 8
#define SCRATCH 4096

enum { SHAPE_GATE, SHAPE_DIVIDER };
enum { HA_START, HA_MIDDLE, HA_END };
enum { VA_ABOVE, VA_CENTER, VA_BELOW };

typedef struct shape {
    int kind;
    double *uv; /* n points u0,v0,u1,v1,... */
    size_t n;
    int closed;
} shape;

typedef struct plabel {
    char *text;
    double u, v; /* anchor in plot coordinates */
    int ha, va;
} plabel;

typedef struct paxis {
    char *title;
    fcs_plot_scale scale;
    double lo, hi;
} paxis;

struct fcs_plot {
    fcs_plot_opts o;
    char *title;
    paxis ax[2];
    int two_d;
    fcs_hist *h;
    shape *shapes;
    size_t n_shapes, cap_shapes;
    plabel *labels;
    size_t n_labels, cap_labels;
    char *notes[MAX_NOTES];
    size_t n_notes;
    double *sx, *sy; /* scratch for transformed values */
    char errmsg[FCS_ERRMSG_MAX];
};

static int perr(fcs_plot *p, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int perr(fcs_plot *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

void fcs_plot_opts_init(fcs_plot_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->width = 600;
    o->height = 540;
    o->bins = 256;
    o->png_scale = 2.0;
}

static char *dup_text(const char *s, int *ok)
{
    if (!s) return NULL;
    char *d = fcs_strdup(s);
    if (!d) *ok = 0;
    return d;
}

static int check_axis(const fcs_plot_axis *a, const char *which, fcs_error *err)
{
    if (!bounds_ok(a->lo, a->hi))
        return fcs_error_set(err, FCS_EINVAL, "plot: %s axis from %g to %g: need finite lo < hi",
                             which, a->lo, a->hi);
    if ((a->scale.applied && fcs_transform_arity(a->scale.applied) != 1) ||
        (a->scale.display && fcs_transform_arity(a->scale.display) != 1))
        return fcs_error_set(err, FCS_EINVAL, "plot: %s axis: a two-channel transform is no scale",
                             which);
    if (!isfinite(fcs_plot_scale_inverse(&a->scale, a->lo)) ||
        !isfinite(fcs_plot_scale_inverse(&a->scale, a->hi)))
        return fcs_error_set(err, FCS_EINVAL,
                             "plot: %s axis: positions %g..%g are outside the scale", which, a->lo,
                             a->hi);
    return FCS_OK;
}

static int check_opts(const fcs_plot_opts *o, fcs_error *err)
{
    if (o->width < 200 || o->width > 8000 || o->height < 200 || o->height > 8000)
        return fcs_error_set(err, FCS_EINVAL, "plot: size %ux%u out of range (200..8000)", o->width,
                             o->height);
    if (o->bins < 2 || o->bins > 4096)
        return fcs_error_set(err, FCS_EINVAL, "plot: %zu bins out of range (2..4096)", o->bins);
    if (!(o->png_scale >= 0.5 && o->png_scale <= 8))
        return fcs_error_set(err, FCS_EINVAL, "plot: PNG scale %g out of range (0.5..8)",
                             o->png_scale);
    return FCS_OK;
}

int fcs_plot_new(fcs_plot **out, const fcs_plot_axis *x, const fcs_plot_axis *y,
                 const fcs_plot_opts *opts, fcs_error *err)
{
    if (!out || !x) return fcs_error_set(err, FCS_EINVAL, "plot: NULL argument");
    *out = NULL;
    fcs_plot_opts def;
    fcs_plot_opts_init(&def);
    if (!opts) opts = &def;
    int rc = check_opts(opts, err);
    if (!rc) rc = check_axis(x, "x", err);
    if (!rc && y) rc = check_axis(y, "y", err);
    if (rc) return rc;
    fcs_plot *p = calloc(1, sizeof *p);
    if (!p) return fcs_error_set(err, FCS_ENOMEM, "plot: out of memory");
    p->o = *opts;
    p->o.title = NULL;
    p->two_d = y != NULL;
    int ok = 1;
    p->title = dup_text(opts->title, &ok);
    for (int a = 0; a < 1 + p->two_d; a++) {
        const fcs_plot_axis *src = a ? y : x;
        p->ax[a].title = dup_text(src->title, &ok);
        p->ax[a].scale = src->scale;
        p->ax[a].lo = src->lo;
        p->ax[a].hi = src->hi;
    }
    p->sx = malloc(SCRATCH * sizeof *p->sx);
    p->sy = malloc(SCRATCH * sizeof *p->sy);
    if (!ok || !p->sx || !p->sy) {
        fcs_plot_free(p);
        return fcs_error_set(err, FCS_ENOMEM, "plot: out of memory");
    }
    rc = fcs_hist_new(&p->h, opts->bins, x->lo, x->hi, y ? opts->bins : 1, y ? y->lo : 0,
                      y ? y->hi : 1, !opts->drop_offscale, err);
    if (rc) {
        fcs_plot_free(p);
        return rc;
    }
    *out = p;
    return FCS_OK;
}

void fcs_plot_free(fcs_plot *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_shapes; i++) free(p->shapes[i].uv);
    for (size_t i = 0; i < p->n_labels; i++) free(p->labels[i].text);
    for (size_t i = 0; i < p->n_notes; i++) free(p->notes[i]);
    free(p->shapes);
    free(p->labels);
    free(p->title);
    free(p->ax[0].title);
    free(p->ax[1].title);
    fcs_hist_free(p->h);
    free(p->sx);
    free(p->sy);
    free(p);
}

int fcs_plot_set_title(fcs_plot *p, const char *title)
{
    if (!p) return FCS_EINVAL;
    char *t = NULL;
    if (title && !(t = fcs_strdup(title))) return perr(p, FCS_ENOMEM, "plot: out of memory");
    free(p->title);
    p->title = t;
    return FCS_OK;
}

const char *fcs_plot_errmsg(const fcs_plot *p) { return p ? p->errmsg : ""; }
const fcs_hist *fcs_plot_hist(const fcs_plot *p) { return p ? p->h : NULL; }

/* Values to positions, block by block through the scratch arrays. */
int fcs_plot_add_events(fcs_plot *p, const double *x, const double *y, const uint8_t *mask,
                        size_t n)
{
    if (!p) return FCS_EINVAL;
    if (n && (!x || (p->two_d && !y))) return perr(p, FCS_EINVAL, "plot: NULL event array");
    const fcs_transform *tx = p->ax[0].scale.display,
                        *ty = p->two_d ? p->ax[1].scale.display : NULL;
    for (size_t off = 0; off < n; off += SCRATCH) {
        size_t m = n - off < SCRATCH ? n - off : SCRATCH;
        const double *bx = x + off, *by = p->two_d ? y + off : NULL;
        if (tx) {
            memcpy(p->sx, bx, m * sizeof *bx);
            if (fcs_transform_apply(tx, p->sx, m))
                return perr(p, FCS_EINVAL, "plot: x transform failed");
            bx = p->sx;
        }
        if (ty) {
            memcpy(p->sy, by, m * sizeof *by);
            if (fcs_transform_apply(ty, p->sy, m))
                return perr(p, FCS_EINVAL, "plot: y transform failed");
            by = p->sy;
        }
        int rc = fcs_hist_add(p->h, bx, by, mask ? mask + off : NULL, m);
        if (rc) return perr(p, rc, "plot: a bin count overflows");
    }
    return FCS_OK;
}

/* ---- gates in plot coordinates ------------------------------------------------------ */

int fcs_plot_gate_label(char *buf, size_t n, const char *name, int64_t count, double pct_parent)
{
    char pct[32];
    if (isnan(pct_parent))
        snprintf(pct, sizeof pct, "NA");
    else
        snprintf(pct, sizeof pct, "%.1f%%", pct_parent);
    return snprintf(buf, n, "%s %lld (%s)", name ? name : "", (long long)count, pct);
}

static int same_transform(const fcs_transform *a, const fcs_transform *b)
{
    if (a == b) return 1;
    if (!a || !b) return 0;
    return strcmp(fcs_transform_string(a), fcs_transform_string(b)) == 0;
}

/* Gate coordinate g (gate transform gt) of axis a as a plot coordinate:
 * 0..1 across the plot area; +-Inf beyond it; NaN when it has no place. */
static double gate_u(const fcs_plot *p, int a, const fcs_transform *gt, double g)
{
    const paxis *ax = &p->ax[a];
    double pos = g;
    if (!same_transform(gt, ax->scale.display)) {
        double v = gt ? fcs_transform_inverse_value(gt, g) : g;
        pos = ax->scale.display ? fcs_transform_value(ax->scale.display, v) : v;
    }
    return (pos - ax->lo) / (ax->hi - ax->lo);
}

/* Where an open side or an infinite coordinate is drawn: just outside the
 * plot area, so the clip hides it and the outline runs off the edge. */
static double finite_u(double u)
{
    if (isnan(u)) return u;
    return u < -0.02 ? -0.02 : (u > 1.02 ? 1.02 : u);
}

static int push_shape(fcs_plot *p, int kind, double *uv, size_t n, int closed)
{
    if (p->n_shapes == p->cap_shapes) {
        size_t cap = p->cap_shapes ? 2 * p->cap_shapes : 8;
        shape *s = realloc(p->shapes, cap * sizeof *s);
        if (!s) {
            free(uv);
            return perr(p, FCS_ENOMEM, "plot: out of memory");
        }
        p->shapes = s;
        p->cap_shapes = cap;
    }
    p->shapes[p->n_shapes++] = (shape){kind, uv, n, closed};
    return FCS_OK;
}

static int push_label(fcs_plot *p, const char *text, double u, double v, int ha, int va)
{
    if (!text || !*text) return FCS_OK;
    if (isnan(u) || isnan(v))
        return FCS_OK; /* nowhere to put it: the outline has no place either */
    if (p->n_labels == p->cap_labels) {
        size_t cap = p->cap_labels ? 2 * p->cap_labels : 8;
        plabel *l = realloc(p->labels, cap * sizeof *l);
        if (!l) return perr(p, FCS_ENOMEM, "plot: out of memory");
        p->labels = l;
        p->cap_labels = cap;
    }
    char *t = fcs_strdup(text);
    if (!t) return perr(p, FCS_ENOMEM, "plot: out of memory");
    p->labels[p->n_labels++] = (plabel){t, u, v, ha, va};
    return FCS_OK;
}

/* Label above the top of a shape, centred on its horizontal extent. */
static int label_above(fcs_plot *p, const double *uv, size_t n, const char *text)
{
    double umin = INFINITY, umax = -INFINITY, vmax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double u = uv[2 * i], v = uv[2 * i + 1];
        if (isnan(u) || isnan(v)) continue;
        umin = fmin(umin, u), umax = fmax(umax, u), vmax = fmax(vmax, v);
    }
    if (!(umin <= umax)) return FCS_OK;
    double um = (fmax(umin, 0) + fmin(umax, 1)) / 2;
    return push_label(p, text, um, fmin(vmax, 1), HA_MIDDLE, VA_ABOVE);
}

/* 1-D range: two vertical lines and a bar at 90% of the height. */
static int range_1d(fcs_plot *p, double u0, double u1, const char *text)
{
    static const double bar = 0.9;
    double *uv = malloc(8 * sizeof *uv);
    if (!uv) return perr(p, FCS_ENOMEM, "plot: out of memory");
    double pts[8] = {u0, 0, u0, bar, u1, bar, u1, 0};
    memcpy(uv, pts, sizeof pts);
    int rc = push_shape(p, SHAPE_GATE, uv, 4, 0);
    if (rc) return rc;
    return push_label(p, text, (fmax(u0, 0) + fmin(u1, 1)) / 2, bar, HA_MIDDLE, VA_ABOVE);
}

int fcs_plot_rectangle(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy, double xmin,
                       double xmax, double ymin, double ymax, const char *label)
{
    if (!p) return FCS_EINVAL;
    if (!isnan(xmin) && !isnan(xmax) && !(xmin <= xmax))
        return perr(p, FCS_EINVAL, "plot: rectangle with x min %g above max %g", xmin, xmax);
    double u0 = isnan(xmin) ? -0.02 : finite_u(gate_u(p, 0, gx, xmin));
    double u1 = isnan(xmax) ? 1.02 : finite_u(gate_u(p, 0, gx, xmax));
    if (!p->two_d) return range_1d(p, u0, u1, label);
    if (!isnan(ymin) && !isnan(ymax) && !(ymin <= ymax))
        return perr(p, FCS_EINVAL, "plot: rectangle with y min %g above max %g", ymin, ymax);
    double v0 = isnan(ymin) ? -0.02 : finite_u(gate_u(p, 1, gy, ymin));
    double v1 = isnan(ymax) ? 1.02 : finite_u(gate_u(p, 1, gy, ymax));
    double *uv = malloc(8 * sizeof *uv);
    if (!uv) return perr(p, FCS_ENOMEM, "plot: out of memory");
    double pts[8] = {u0, v0, u1, v0, u1, v1, u0, v1};
    memcpy(uv, pts, sizeof pts);
    int rc = push_shape(p, SHAPE_GATE, uv, 4, 1);
    return rc ? rc : label_above(p, uv, 4, label);
}

/* Points of the closed outline through gate points g (n of them), with
 * `per_edge` points per edge when the mapping is not affine. */
static int outline(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy, const double *g,
                   size_t n, size_t per_edge, const char *text)
{
    int straight =
        same_transform(gx, p->ax[0].scale.display) && same_transform(gy, p->ax[1].scale.display);
    size_t k = straight ? 1 : per_edge;
    uint64_t cells;
    if (fcs_mul_ok(n, k * 2, &cells) || cells > SIZE_MAX / sizeof(double))
        return perr(p, FCS_ENOMEM, "plot: too many vertices");
    double *uv = malloc((size_t)cells * sizeof *uv);
    if (!uv) return perr(p, FCS_ENOMEM, "plot: out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const double *a = g + 2 * i, *b = g + 2 * ((i + 1) % n);
        for (size_t j = 0; j < k; j++) {
            double t = (double)j / (double)k;
            double u = finite_u(gate_u(p, 0, gx, a[0] + t * (b[0] - a[0])));
            double v = finite_u(gate_u(p, 1, gy, a[1] + t * (b[1] - a[1])));
            if (isnan(u) || isnan(v)) continue; /* a point the scale cannot show */
            uv[2 * m] = u, uv[2 * m + 1] = v;
            m++;
        }
    }
    if (m < 2) {
        free(uv);
        return FCS_OK; /* nothing of it is on this picture */
    }
    int rc = push_shape(p, SHAPE_GATE, uv, m, 1);
    return rc ? rc : label_above(p, uv, m, text);
}

int fcs_plot_polygon(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy, size_t n,
                     const double *xy, const char *label)
{
    if (!p) return FCS_EINVAL;
    if (!p->two_d) return perr(p, FCS_EINVAL, "plot: a polygon needs a 2-D plot");
    if (n < 3 || !xy) return perr(p, FCS_EINVAL, "plot: a polygon needs 3 or more vertices");
    for (size_t i = 0; i < 2 * n; i++)
        if (!isfinite(xy[i]))
            return perr(p, FCS_EINVAL, "plot: polygon vertex %zu is not finite", i / 2 + 1);
    return outline(p, gx, gy, xy, n, 64, label);
}

#define ELLIPSE_POINTS 256

int fcs_plot_ellipse(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy,
                     const double mean[2], const double cov[4], double d2, const char *label)
{
    if (!p) return FCS_EINVAL;
    if (!p->two_d) return perr(p, FCS_EINVAL, "plot: an ellipse needs a 2-D plot");
    if (!mean || !cov || !(d2 > 0) || !isfinite(d2))
        return perr(p, FCS_EINVAL, "plot: ellipse needs a mean, a covariance and distance > 0");
    /* The quadratic form only sees the symmetric part S of C^-1; draw
     * x = m + sqrt(d2) L (cos t, sin t) with L L' = S^-1. */
    double det = cov[0] * cov[3] - cov[1] * cov[2];
    if (!isfinite(det) || det == 0)
        return perr(p, FCS_EINVAL, "plot: ellipse covariance is singular");
    double s00 = cov[3] / det, s11 = cov[0] / det, s01 = -(cov[1] + cov[2]) / (2 * det);
    double sdet = s00 * s11 - s01 * s01;
    if (!(s00 > 0) || !(sdet > 0))
        return perr(p, FCS_EINVAL, "plot: ellipse covariance is not positive definite");
    double p00 = s11 / sdet, p11 = s00 / sdet, p01 = -s01 / sdet; /* P = S^-1 */
    double l00 = sqrt(p00), l10 = p01 / l00, l11 = sqrt(p11 - l10 * l10);
    double r = sqrt(d2), g[2 * ELLIPSE_POINTS];
    for (int i = 0; i < ELLIPSE_POINTS; i++) {
        double t = 2 * M_PI * i / ELLIPSE_POINTS, c = cos(t), s = sin(t);
        g[2 * i] = mean[0] + r * l00 * c;
        g[2 * i + 1] = mean[1] + r * (l10 * c + l11 * s);
    }
    return outline(p, gx, gy, g, ELLIPSE_POINTS, 1, label);
}

int fcs_plot_divider(fcs_plot *p, int axis, const fcs_transform *g, double value)
{
    if (!p) return FCS_EINVAL;
    if (axis < 0 || axis > 1 || (axis == 1 && !p->two_d))
        return perr(p, FCS_EINVAL, "plot: no axis %d for a divider", axis);
    if (!isfinite(value)) return perr(p, FCS_EINVAL, "plot: divider value %g is not finite", value);
    double w = finite_u(gate_u(p, axis, g, value));
    if (isnan(w)) return FCS_OK;
    double *uv = malloc(4 * sizeof *uv);
    if (!uv) return perr(p, FCS_ENOMEM, "plot: out of memory");
    double pts[2][4] = {{w, -0.02, w, 1.02}, {-0.02, w, 1.02, w}};
    memcpy(uv, pts[axis], sizeof pts[axis]);
    return push_shape(p, SHAPE_DIVIDER, uv, 2, 0);
}

/* Where a region label goes along one axis: its corner towards an open side,
 * else its middle. */
static void region_place(const fcs_plot *p, int a, const fcs_transform *gt, double lo, double hi,
                         double *w, int *align)
{
    int open_lo = isnan(lo) || lo == -INFINITY, open_hi = isnan(hi) || hi == INFINITY;
    double wlo = open_lo ? 0 : fmax(0, fmin(1, gate_u(p, a, gt, lo)));
    double whi = open_hi ? 1 : fmax(0, fmin(1, gate_u(p, a, gt, hi)));
    if (open_hi && !open_lo)
        *w = 1, *align = 2;
    else if (open_lo && !open_hi)
        *w = 0, *align = 0;
    else
        *w = (wlo + whi) / 2, *align = 1;
}

int fcs_plot_region_label(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy,
                          double xmin, double xmax, double ymin, double ymax, const char *label)
{
    if (!p) return FCS_EINVAL;
    double u, v;
    int ha, vpos;
    region_place(p, 0, gx, xmin, xmax, &u, &ha);
    if (!p->two_d) return push_label(p, label, u, 0.9, ha, VA_ABOVE);
    region_place(p, 1, gy, ymin, ymax, &v, &vpos);
    /* vpos 2: the top corner (text hangs below the top edge), 0: the bottom. */
    int va = vpos == 2 ? VA_BELOW : (vpos == 0 ? VA_ABOVE : VA_CENTER);
    return push_label(p, label, u, v, ha == 0 ? HA_START : (ha == 2 ? HA_END : HA_MIDDLE), va);
}

int fcs_plot_note(fcs_plot *p, const char *text)
{
    if (!p || !text) return FCS_EINVAL;
    if (p->n_notes >= MAX_NOTES) return perr(p, FCS_ERANGE, "plot: at most %d notes", MAX_NOTES);
    if (!(p->notes[p->n_notes] = fcs_strdup(text)))
        return perr(p, FCS_ENOMEM, "plot: out of memory");
    p->n_notes++;
    return FCS_OK;
}

/* ---- the painter interface --------------------------------------------------------- */

/* Everything is placed in SVG units; a painter draws it. Colours 0xRRGGBB. */
typedef struct painter painter;
struct painter {
    void (*rect)(painter *, double x, double y, double w, double h, uint32_t fill);
    void (*frame)(painter *, double x, double y, double w, double h, double width);
    /* Polyline (closed: polygon outline); clip: to the plot area. */
    void (*line)(painter *, const double *xy, size_t n, int closed, double width, uint32_t rgb,
                 int clip, const char *cls);
    /* Text with baseline at y; sup: superscript after it (NULL: none);
     * ha: HA_*; vertical: rotated to read upwards; halo: white outline. */
    void (*text)(painter *, double x, double y, const char *s, const char *sup, double size, int ha,
                 int vertical, int halo, const char *cls);
    double (*text_width)(painter *, const char *s, const char *sup, double size);
    void (*density)(painter *, const fcs_plot *, double x, double y, double w, double h);
    void (*histogram)(painter *, const fcs_plot *, double ymax, double x, double y, double w,
                      double h);
    void (*colorbar)(painter *, const fcs_plot *, double x, double y, double w, double h);
    int failed; /* out of memory */
};

/* Layout constants (SVG units). */
#define M_LEFT 80.0
#define M_RIGHT_2D 96.0
#define M_RIGHT_1D 24.0
#define M_TOP 36.0
#define M_BOTTOM 58.0
#define NOTE_LINE 13.0
#define FONT_TICK 11.0
#define FONT_AXIS 13.0
#define FONT_TITLE 14.0
#define FONT_GATE 11.0
#define FONT_NOTE 10.0
#define GATE_COLOR 0x000000u
#define MAX_TICKS 512

typedef struct layout {
    double x, y, w, h; /* plot area */
    size_t n_notes;
    char notes[MAX_NOTES + 3][160];
} layout;

/* Notes under the picture: the caller's, then how events were counted. */
static void collect_notes(const fcs_plot *p, layout *L)
{
    fcs_hist_tally t;
    fcs_hist_get_tally(p->h, &t);
    L->n_notes = 0;
    for (size_t i = 0; i < p->n_notes; i++)
        snprintf(L->notes[L->n_notes++], sizeof L->notes[0], "%s", p->notes[i]);
    if (t.clamped)
        snprintf(L->notes[L->n_notes++], sizeof L->notes[0],
                 "%llu events off scale, shown on the edges of the plot",
                 (unsigned long long)t.clamped);
    if (t.dropped)
        snprintf(L->notes[L->n_notes++], sizeof L->notes[0], "%llu events off scale, not shown",
                 (unsigned long long)t.dropped);
    if (t.nan)
        snprintf(L->notes[L->n_notes++], sizeof L->notes[0],
                 "%llu events have no position on these scales (NaN), not shown",
                 (unsigned long long)t.nan);
}

/* The notes and the plot area (what is left inside the margins). */
static void plot_layout(const fcs_plot *p, layout *L)
{
    collect_notes(p, L);
    L->x = M_LEFT;
    L->y = M_TOP;
    L->w = p->o.width - M_LEFT - (p->two_d ? M_RIGHT_2D : M_RIGHT_1D);
    L->h = p->o.height - M_TOP - M_BOTTOM - NOTE_LINE * (double)L->n_notes;
    if (L->h < 40) L->h = 40;
}

/* Split a tick label "10^3" into base "10" and superscript "3". */
static void split_sup(const char *label, char *base, size_t n, const char **sup)
{
    const char *c = strchr(label, '^');
    size_t len = c ? (size_t)(c - label) : strlen(label);
    if (len >= n) len = n - 1;
    memcpy(base, label, len);
    base[len] = '\0';
    *sup = c ? c + 1 : NULL;
}

static void draw_ticks(painter *pt, const layout *L, const fcs_plot_scale *s, double lo, double hi,
                       int vertical_axis)
{
    fcs_plot_tick ticks[MAX_TICKS];
    size_t n = 0;
    double len = vertical_axis ? L->h : L->w;
    double gap = (vertical_axis ? 22.0 : 40.0) / len;
    if (gap < 0.01) gap = 0.01;
    if (gap > 0.5) gap = 0.5;
    if (fcs_plot_ticks(s, lo, hi, gap, ticks, MAX_TICKS, &n) != FCS_OK) return;
    for (size_t i = 0; i < n; i++) {
        double f = (ticks[i].pos - lo) / (hi - lo);
        if (!(f >= -1e-9 && f <= 1 + 1e-9)) continue;
        double tl = ticks[i].major ? 6 : 3, xy[4];
        char base[FCS_PLOT_LABEL_MAX];
        const char *sup;
        split_sup(ticks[i].label, base, sizeof base, &sup);
        if (vertical_axis) {
            double y = L->y + L->h - f * L->h;
            xy[0] = L->x, xy[1] = y, xy[2] = L->x - tl, xy[3] = y;
            pt->line(pt, xy, 2, 0, 1, 0x000000, 0, "tick");
            if (ticks[i].major)
                pt->text(pt, L->x - 9, y + 4, base, sup, FONT_TICK, HA_END, 0, 0, "tick-label");
        } else {
            double x = L->x + f * L->w;
            xy[0] = x, xy[1] = L->y + L->h, xy[2] = x, xy[3] = L->y + L->h + tl;
            pt->line(pt, xy, 2, 0, 1, 0x000000, 0, "tick");
            if (ticks[i].major)
                pt->text(pt, x, L->y + L->h + 19, base, sup, FONT_TICK, HA_MIDDLE, 0, 0,
                         "tick-label");
        }
    }
}

static void draw_gates(painter *pt, const fcs_plot *p, const layout *L)
{
    double *xy = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < p->n_shapes && !pt->failed; i++) {
        const shape *s = &p->shapes[i];
        if (s->n > cap) {
            double *b = realloc(xy, 2 * s->n * sizeof *b);
            if (!b) {
                pt->failed = 1;
                break;
            }
            xy = b;
            cap = s->n;
        }
        for (size_t k = 0; k < s->n; k++) {
            xy[2 * k] = L->x + s->uv[2 * k] * L->w;
            xy[2 * k + 1] = L->y + L->h - s->uv[2 * k + 1] * L->h;
        }
        const char *cls = s->kind == SHAPE_DIVIDER ? "divider" : "gate";
        /* A white line under the black one keeps gates visible on dark bins. */
        pt->line(pt, xy, s->n, s->closed, 3.5, 0xffffff, 1, "gate-halo");
        pt->line(pt, xy, s->n, s->closed, 1.4, GATE_COLOR, 1, cls);
    }
    free(xy);
}

static void draw_gate_labels(painter *pt, const fcs_plot *p, const layout *L)
{
    for (size_t i = 0; i < p->n_labels; i++) {
        const plabel *l = &p->labels[i];
        double w = pt->text_width(pt, l->text, NULL, FONT_GATE), pad = 4;
        double x = L->x + l->u * L->w, y = L->y + L->h - l->v * L->h;
        int ha = l->ha;
        /* Keep the whole label inside the plot area. */
        double left = ha == HA_START ? x : (ha == HA_MIDDLE ? x - w / 2 : x - w);
        if (left < L->x + pad) left = L->x + pad;
        if (left + w > L->x + L->w - pad) left = L->x + L->w - pad - w;
        if (l->va == VA_ABOVE)
            y -= 4;
        else if (l->va == VA_BELOW)
            y += FONT_GATE + 3;
        else
            y += FONT_GATE / 2 - 1;
        if (y < L->y + FONT_GATE + pad) y = L->y + FONT_GATE + pad;
        if (y > L->y + L->h - pad) y = L->y + L->h - pad;
        pt->text(pt, left, y, l->text, NULL, FONT_GATE, HA_START, 0, 1, "gate-label");
    }
}

/* Colour bar with count ticks: a count c sits where its level is drawn. */
static void draw_colorbar(painter *pt, const fcs_plot *p, const layout *L)
{
    double bx = L->x + L->w + 16, bw = 12, by = L->y, bh = L->h;
    pt->colorbar(pt, p, bx, by, bw, bh);
    pt->frame(pt, bx, by, bw, bh, 1);
    pt->text(pt, bx, by - 8, "events/bin", NULL, FONT_NOTE, HA_START, 0, 0, "colorbar");
    uint64_t m = fcs_hist_max(p->h);
    if (m == 0) return;
    fcs_transform *lg = NULL;
    fcs_plot_scale s = {NULL, NULL};
    double hi = (double)m;
    if (!p->o.linear_density) {
        if (m < 2 || fcs_transform_new_log(10, &lg, NULL) != FCS_OK) {
            pt->text(pt, bx + bw + 5, by + 4, "1", NULL, FONT_TICK, HA_START, 0, 0, "tick-label");
            return;
        }
        s.display = lg;
        hi = log10((double)m);
    }
    fcs_plot_tick t[MAX_TICKS];
    size_t n = 0;
    double gap = fmin(0.5, fmax(0.01, 20 / bh)), last_f = -1;
    if (fcs_plot_ticks(&s, 0.0, hi, gap, t, MAX_TICKS, &n) == FCS_OK) {
        for (size_t i = 0; i < n; i++) {
            /* bins hold whole numbers of events, at least one when coloured */
            if (t[i].value < 1 || t[i].value != floor(t[i].value)) continue;
            double f = t[i].pos / hi;
            if (!(f >= -1e-9 && f <= 1 + 1e-9)) continue;
            /* level 1 + 254 f, drawn in the band (level - 1) / 255 .. level / 255 */
            double y = by + bh - bh * (254 * f + 0.5) / 255,
                   xy[4] = {bx + bw, y, bx + bw + (t[i].major ? 4 : 2), y};
            pt->line(pt, xy, 2, 0, 1, 0x000000, 0, "tick");
            if (!t[i].major) continue;
            char base[FCS_PLOT_LABEL_MAX];
            const char *sup;
            split_sup(t[i].label, base, sizeof base, &sup);
            /* counts read better as 1, 10, 100 than as 10^0 .. 10^2 */
            if (sup && (!strcmp(sup, "0") || !strcmp(sup, "1") || !strcmp(sup, "2"))) {
                snprintf(base, sizeof base, "%s",
                         !strcmp(sup, "0") ? "1" : (!strcmp(sup, "1") ? "10" : "100"));
                sup = NULL;
            }
            pt->text(pt, bx + bw + 6, y + 4, base, sup, FONT_TICK, HA_START, 0, 0, "tick-label");
            last_f = f;
        }
    }
    /* The fullest bin's count at the top, unless a tick label is there. */
    if (1 - last_f >= gap) {
        char top[32];
        snprintf(top, sizeof top, "%llu", (unsigned long long)m);
        double y = by + bh - bh * 254.5 / 255, xy[4] = {bx + bw, y, bx + bw + 4, y};
        pt->line(pt, xy, 2, 0, 1, 0x000000, 0, "tick");
        pt->text(pt, bx + bw + 6, y + 4, top, NULL, FONT_TICK, HA_START, 0, 0, "tick-label");
    }
    fcs_transform_free(lg);
}

static void draw_plot(painter *pt, const fcs_plot *p)
{
    layout L;
    plot_layout(p, &L);
    double W = p->o.width, H = p->o.height;
    pt->rect(pt, 0, 0, W, H, 0xffffff);
    if (p->title) pt->text(pt, W / 2, 22, p->title, NULL, FONT_TITLE, HA_MIDDLE, 0, 0, "title");
    double ymax = 1;
    if (p->two_d) {
        pt->density(pt, p, L.x, L.y, L.w, L.h);
    } else {
        ymax = (double)fcs_hist_max(p->h) * 1.05;
        if (ymax < 1) ymax = 1;
        pt->histogram(pt, p, ymax, L.x, L.y, L.w, L.h);
    }
    draw_gates(pt, p, &L);
    pt->frame(pt, L.x, L.y, L.w, L.h, 1);
    draw_gate_labels(pt, p, &L);
    draw_ticks(pt, &L, &p->ax[0].scale, p->ax[0].lo, p->ax[0].hi, 0);
    if (p->two_d)
        draw_ticks(pt, &L, &p->ax[1].scale, p->ax[1].lo, p->ax[1].hi, 1);
    else
        draw_ticks(pt, &L, NULL, 0, ymax, 1);
    if (p->ax[0].title)
        pt->text(pt, L.x + L.w / 2, L.y + L.h + 40, p->ax[0].title, NULL, FONT_AXIS, HA_MIDDLE, 0,
                 0, "axis-title");
    const char *yt = p->two_d ? p->ax[1].title : "events";
    if (yt) pt->text(pt, 22, L.y + L.h / 2, yt, NULL, FONT_AXIS, HA_MIDDLE, 1, 0, "axis-title");
    if (p->two_d) draw_colorbar(pt, p, &L);
    for (size_t i = 0; i < L.n_notes; i++)
        pt->text(pt, 8, H - 8 - NOTE_LINE * (double)(L.n_notes - 1 - i), L.notes[i], NULL,
                 FONT_NOTE, HA_START, 0, 0, "note");
}

/* ---- density images ------------------------------------------------------------------ */

/* Density levels as an image, top row = highest y bins. */
static uint8_t *density_levels(const fcs_plot *p)
{
    size_t nx = p->h->nx, ny = p->h->ny;
    uint8_t *img = malloc(nx * ny);
    if (!img) return NULL;
    uint64_t m = p->h->max;
    for (size_t iy = 0; iy < ny; iy++)
        for (size_t ix = 0; ix < nx; ix++)
            img[(ny - 1 - iy) * nx + ix] =
                (uint8_t)fcs_density_level(p->h->counts[iy * nx + ix], m, p->o.linear_density);
    return img;
}

/* The 256-entry palette of density PNGs: 0 transparent, levels 1..255. */
static void density_palette(uint8_t pal[768])
{
    for (int l = 0; l < 256; l++) fcs_density_color(l, pal + 3 * l);
}

/* ---- SVG painter ------------------------------------------------------------------------ */

typedef struct svg_painter {
    painter base;
    fcs_sbuf *b;
} svg_painter;

static fcs_sbuf *svg_buf(painter *pt) { return ((svg_painter *)pt)->b; }

static void svg_rect(painter *pt, double x, double y, double w, double h, uint32_t fill)
{
    fcs_sb_printf(svg_buf(pt),
                  "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#%06x\"/>\n",
                  x, y, w, h, fill);
}

static void svg_frame(painter *pt, double x, double y, double w, double h, double width)
{
    fcs_sb_printf(svg_buf(pt),
                  "<rect class=\"frame\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                  "fill=\"none\" stroke=\"#000000\" stroke-width=\"%.2f\"/>\n",
                  x, y, w, h, width);
}

static void svg_line(painter *pt, const double *xy, size_t n, int closed, double width,
                     uint32_t rgb, int clip, const char *cls)
{
    fcs_sbuf *b = svg_buf(pt);
    fcs_sb_printf(b, "<path class=\"%s\" d=\"", cls);
    for (size_t i = 0; i < n; i++)
        fcs_sb_printf(b, "%s%.2f %.2f", i ? " L" : "M", xy[2 * i], xy[2 * i + 1]);
    fcs_sb_printf(
        b,
        "%s\" fill=\"none\" stroke=\"#%06x\" stroke-width=\"%.2f\" stroke-linejoin=\"round\"%s/>\n",
        closed ? " Z" : "", rgb, width, clip ? " clip-path=\"url(#plot-area)\"" : "");
}

static void svg_text_el(fcs_sbuf *b, double x, double y, const char *s, const char *sup,
                        double size, int ha, int vertical, const char *cls, const char *extra)
{
    static const char *anchor[3] = {"start", "middle", "end"};
    fcs_sb_printf(b,
                  "<text class=\"%s\" x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" text-anchor=\"%s\"",
                  cls, x, y, size, anchor[ha]);
    if (vertical) fcs_sb_printf(b, " transform=\"rotate(-90 %.2f %.2f)\"", x, y);
    fcs_sb_printf(b, "%s>", extra);
    sb_xml(b, s);
    if (sup) {
        fcs_sb_puts(b, "<tspan dy=\"-0.45em\" font-size=\"75%\">");
        sb_xml(b, sup);
        fcs_sb_puts(b, "</tspan>");
    }
    fcs_sb_puts(b, "</text>\n");
}

static void svg_text(painter *pt, double x, double y, const char *s, const char *sup, double size,
                     int ha, int vertical, int halo, const char *cls)
{
    fcs_sbuf *b = svg_buf(pt);
    /* The halo is a separate element below the text (paint-order is not
     * understood everywhere). */
    if (halo)
        svg_text_el(
            b, x, y, s, sup, size, ha, vertical, "halo",
            " fill=\"#ffffff\" stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\"");
    svg_text_el(b, x, y, s, sup, size, ha, vertical, cls, " fill=\"#000000\"");
}

/* Sans-serif text is about 0.56 em per character on average. */
static double svg_text_width(painter *pt, const char *s, const char *sup, double size)
{
    (void)pt;
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) n += (*c & 0xc0) != 0x80;
    return 0.56 * size * (double)n + (sup ? 0.42 * size * (double)strlen(sup) : 0);
}

static void svg_png_image(painter *pt, const fcs_png_image *img, double x, double y, double w,
                          double h, const char *cls)
{
    uint8_t *png = NULL;
    size_t len = 0;
    if (fcs_png_encode(img, &png, &len, NULL) != FCS_OK) {
        pt->failed = 1;
        return;
    }
    fcs_sbuf *b = svg_buf(pt);
    fcs_sb_printf(b,
                  "<image class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                  "preserveAspectRatio=\"none\" image-rendering=\"optimizeSpeed\" "
                  "style=\"image-rendering:pixelated\" xlink:href=\"data:image/png;base64,",
                  cls, x, y, w, h);
    sb_base64(b, png, len);
    fcs_sb_puts(b, "\"/>\n");
    free(png);
}

static void svg_density(painter *pt, const fcs_plot *p, double x, double y, double w, double h)
{
    uint8_t *lv = density_levels(p), pal[768], alpha[1] = {0};
    if (!lv) {
        pt->failed = 1;
        return;
    }
    density_palette(pal);
    fcs_png_image img = {
        (uint32_t)p->h->nx, (uint32_t)p->h->ny, FCS_PNG_PALETTE, lv, 0, pal, 256, alpha, 1};
    svg_png_image(pt, &img, x, y, w, h, "density");
    free(lv);
}

static void svg_colorbar(painter *pt, const fcs_plot *p, double x, double y, double w, double h)
{
    (void)p;
    uint8_t lv[FCS_DENSITY_LEVELS], pal[768];
    for (int i = 0; i < FCS_DENSITY_LEVELS; i++) lv[i] = (uint8_t)(FCS_DENSITY_LEVELS - i);
    density_palette(pal);
    fcs_png_image img = {1, FCS_DENSITY_LEVELS, FCS_PNG_PALETTE, lv, 0, pal, 256, NULL, 0};
    svg_png_image(pt, &img, x, y, w, h, "colorbar");
}

/* The histogram as one filled step path. */
static void svg_histogram(painter *pt, const fcs_plot *p, double ymax, double x, double y, double w,
                          double h)
{
    fcs_sbuf *b = svg_buf(pt);
    size_t n = p->h->nx;
    uint8_t rgb[3];
    fcs_density_color(90, rgb);
    fcs_sb_printf(b,
                  "<path class=\"histogram\" fill=\"#%02x%02x%02x\" fill-opacity=\"0.75\" "
                  "stroke=\"#%02x%02x%02x\" stroke-width=\"1\" d=\"M%.2f %.2f",
                  rgb[0], rgb[1], rgb[2], rgb[0] / 2, rgb[1] / 2, rgb[2] / 2, x, y + h);
    for (size_t i = 0; i < n; i++) {
        double yy = y + h - h * (double)p->h->counts[i] / ymax;
        fcs_sb_printf(b, " L%.2f %.2f L%.2f %.2f", x + w * (double)i / (double)n, yy,
                      x + w * (double)(i + 1) / (double)n, yy);
    }
    fcs_sb_printf(b, " L%.2f %.2f Z\"/>\n", x + w, y + h);
}

int fcs_plot_svg(fcs_plot *p, char **out, size_t *len)
{
    if (!p || !out || !len) return FCS_EINVAL;
    *out = NULL;
    *len = 0;
    fcs_sbuf b = FCS_SBUF_INIT;
    svg_painter sp = {{svg_rect, svg_frame, svg_line, svg_text, svg_text_width, svg_density,
                       svg_histogram, svg_colorbar, 0},
                      &b};
    fcs_sb_printf(
        &b,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
        "version=\"1.1\" width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\" "
        "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
        p->o.width, p->o.height, p->o.width, p->o.height);
    if (p->title) {
        fcs_sb_puts(&b, "<title>");
        sb_xml(&b, p->title);
        fcs_sb_puts(&b, "</title>\n");
    }
    layout L;
    plot_layout(p, &L);
    fcs_sb_printf(&b,
                  "<defs><clipPath id=\"plot-area\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                  "height=\"%.2f\"/></clipPath></defs>\n",
                  L.x, L.y, L.w, L.h);
    draw_plot(&sp.base, p);
    fcs_sb_puts(&b, "</svg>\n");
    if (b.nomem || sp.base.failed) {
        free(b.s);
        return perr(p, FCS_ENOMEM, "plot: out of memory while writing SVG");
    }
    *out = b.s;
    *len = b.len;
    return FCS_OK;
}

/* ---- raster painter ----------------------------------------------------------------------- */

typedef struct raster {
    painter base;
    int w, h;
    double k;     /* pixels per SVG unit */
    uint8_t *rgb; /* w x h x 3 */
    int clip[4];  /* plot area in pixels: x0, y0, x1, y1 (exclusive) */
} raster;

static void blend(raster *r, int x, int y, uint32_t rgb, double a, int clip)
{
    if (x < 0 || y < 0 || x >= r->w || y >= r->h || a <= 0) return;
    if (clip && (x < r->clip[0] || y < r->clip[1] || x >= r->clip[2] || y >= r->clip[3])) return;
    if (a > 1) a = 1;
    uint8_t *px = r->rgb + 3 * ((size_t)y * (size_t)r->w + (size_t)x);
    for (int c = 0; c < 3; c++) {
        double src = (double)((rgb >> (16 - 8 * c)) & 0xff);
        px[c] = (uint8_t)lround(px[c] * (1 - a) + src * a);
    }
}

static int px_round(double v) { return (int)lround(v); }

/* Clamp the pixel box [x0, x1) x [y0, y1) to the raster. */
static void clip_box(const raster *r, int *x0, int *y0, int *x1, int *y1)
{
    if (*x0 < 0) *x0 = 0;
    if (*y0 < 0) *y0 = 0;
    if (*x1 > r->w) *x1 = r->w;
    if (*y1 > r->h) *y1 = r->h;
}

static void fill_px(raster *r, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    clip_box(r, &x0, &y0, &x1, &y1);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            uint8_t *px = r->rgb + 3 * ((size_t)y * (size_t)r->w + (size_t)x);
            px[0] = (uint8_t)(rgb >> 16), px[1] = (uint8_t)(rgb >> 8), px[2] = (uint8_t)rgb;
        }
}

static void ras_rect(painter *pt, double x, double y, double w, double h, uint32_t fill)
{
    raster *r = (raster *)pt;
    fill_px(r, px_round(x * r->k), px_round(y * r->k), px_round((x + w) * r->k),
            px_round((y + h) * r->k), fill);
}

/* Anti-aliased segment of width wd (pixels): coverage from the distance of
 * each pixel centre to the segment. */
static void ras_segment(raster *r, double ax, double ay, double bx, double by, double wd,
                        uint32_t rgb, int clip)
{
    double hw = wd / 2, dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    int x0 = (int)floor(fmin(ax, bx) - hw - 1), x1 = (int)ceil(fmax(ax, bx) + hw + 1);
    int y0 = (int)floor(fmin(ay, by) - hw - 1), y1 = (int)ceil(fmax(ay, by) + hw + 1);
    clip_box(r, &x0, &y0, &x1, &y1);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            double px = x + 0.5 - ax, py = y + 0.5 - ay;
            double t = l2 > 0 ? (px * dx + py * dy) / l2 : 0;
            t = t < 0 ? 0 : (t > 1 ? 1 : t);
            double ex = px - t * dx, ey = py - t * dy, d = sqrt(ex * ex + ey * ey);
            double cov = hw + 0.5 - d;
            if (cov > 0) blend(r, x, y, rgb, cov, clip);
        }
}

static void ras_line(painter *pt, const double *xy, size_t n, int closed, double width,
                     uint32_t rgb, int clip, const char *cls)
{
    (void)cls;
    raster *r = (raster *)pt;
    double wd = width * r->k;
    size_t segs = closed ? n : n - 1;
    for (size_t i = 0; i < segs && n >= 2; i++) {
        size_t j = (i + 1) % n;
        double ax = xy[2 * i] * r->k, ay = xy[2 * i + 1] * r->k;
        double bx = xy[2 * j] * r->k, by = xy[2 * j + 1] * r->k;
        /* Long segments in short pieces keep the bounding boxes small. */
        double len = hypot(bx - ax, by - ay);
        int pieces = (int)ceil(len / 16);
        if (pieces < 1) pieces = 1;
        if (pieces > 100000) pieces = 100000;
        for (int k = 0; k < pieces; k++) {
            double t0 = (double)k / pieces, t1 = (double)(k + 1) / pieces;
            ras_segment(r, ax + t0 * (bx - ax), ay + t0 * (by - ay), ax + t1 * (bx - ax),
                        ay + t1 * (by - ay), wd, rgb, clip);
        }
    }
}

static void ras_frame(painter *pt, double x, double y, double w, double h, double width)
{
    double xy[8] = {x, y, x + w, y, x + w, y + h, x, y + h};
    ras_line(pt, xy, 4, 1, width, 0x000000, 0, "frame");
}

/* Font magnification for a text size: the 7-pixel capitals at about 0.72 em. */
static int font_mag(const raster *r, double size)
{
    int m = (int)lround(0.72 * size * r->k / 7.0);
    return m < 1 ? 1 : m;
}

/* Glyph index of one character; non-ASCII code points show as '?'. */
static int glyph_of(unsigned c) { return (c >= 32 && c < 127) ? (int)c - 32 : '?' - 32; }

static size_t text_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) n += (*c & 0xc0) != 0x80;
    return n;
}

/* Width in pixels of s at magnification m (6-pixel advance, no trailing gap). */
static int ras_px_width(const char *s, int m)
{
    size_t n = text_chars(s);
    return n ? (int)(6 * n - 1) * m : 0;
}

/* Draw s with the top-left corner of the first cell at (x, y) in pixels
 * (the baseline is 7m below y). vertical: text reads upwards from (x, y),
 * the glyph tops towards the left. dil > 0 dilates the glyphs (halo). */
static void ras_glyphs(raster *r, int x, int y, const char *s, int m, int vertical, uint32_t rgb,
                       int dil)
{
    int pen = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c & 0xc0) == 0x80) continue;
        const uint8_t *g = FONT[glyph_of(*c)];
        for (int row = 0; row < 9; row++)
            for (int col = 0; col < 5; col++) {
                if (!(g[row] & (0x10 >> col))) continue;
                int gx = pen + col * m, gy = row * m;
                for (int dy = -dil; dy < m + dil; dy++)
                    for (int dx = -dil; dx < m + dil; dx++) {
                        int px = vertical ? x + gy + dy : x + gx + dx;
                        int py = vertical ? y - gx - dx : y + gy + dy;
                        blend(r, px, py, rgb, 1, 0);
                    }
            }
        pen += 6 * m;
    }
}

static void ras_text(painter *pt, double x, double y, const char *s, const char *sup, double size,
                     int ha, int vertical, int halo, const char *cls)
{
    (void)cls;
    raster *r = (raster *)pt;
    int m = font_mag(r, size), ms = m > 1 ? (m * 3 + 2) / 4 : 1;
    int w = ras_px_width(s, m) + (sup ? m + ras_px_width(sup, ms) : 0);
    int start = ha == HA_START ? 0 : (ha == HA_MIDDLE ? w / 2 : w);
    int bx = px_round(x * r->k), by = px_round(y * r->k);
    /* Horizontal: cell top = baseline - 7m. Vertical (reads upwards): the
     * baseline is the column x, glyph tops towards smaller x. */
    int ox = vertical ? bx - 7 * m : bx - start, oy = vertical ? by + start : by - 7 * m;
    int sup_off = ras_px_width(s, m) + m;
    for (int pass = halo ? 0 : 1; pass < 2; pass++) {
        uint32_t col = pass ? 0x000000 : 0xffffff;
        int dil = pass ? 0 : m + 1;
        ras_glyphs(r, ox, oy, s, m, vertical, col, dil);
        if (sup) {
            int sx = vertical ? ox - 4 * m + 7 * (m - ms) : ox + sup_off;
            int sy = vertical ? oy - sup_off : oy - 4 * m + 7 * (m - ms);
            ras_glyphs(r, sx, sy, sup, ms, vertical, col, dil);
        }
    }
}

static double ras_text_width(painter *pt, const char *s, const char *sup, double size)
{
    raster *r = (raster *)pt;
    int m = font_mag(r, size), ms = m > 1 ? (m * 3 + 2) / 4 : 1;
    return (ras_px_width(s, m) + (sup ? m + ras_px_width(sup, ms) : 0)) / r->k;
}

/* Plot-area rectangle in pixels. */
static void px_box(const raster *r, double x, double y, double w, double h, int b[4])
{
    b[0] = px_round(x * r->k), b[1] = px_round(y * r->k);
    b[2] = px_round((x + w) * r->k), b[3] = px_round((y + h) * r->k);
}

static void ras_density(painter *pt, const fcs_plot *p, double x, double y, double w, double h)
{
    raster *r = (raster *)pt;
    int b[4];
    px_box(r, x, y, w, h, b);
    size_t nx = p->h->nx, ny = p->h->ny;
    int pw = b[2] - b[0], ph = b[3] - b[1];
    for (int py = b[1]; py < b[3]; py++) {
        size_t top = (size_t)(((double)(py - b[1]) + 0.5) * (double)ny / ph);
        size_t iy = ny - 1 - (top < ny ? top : ny - 1);
        for (int px = b[0]; px < b[2]; px++) {
            size_t ix = (size_t)(((double)(px - b[0]) + 0.5) * (double)nx / pw);
            if (ix >= nx) ix = nx - 1;
            int l = fcs_density_level(p->h->counts[iy * nx + ix], p->h->max, p->o.linear_density);
            if (!l) continue;
            uint8_t c[3];
            fcs_density_color(l, c);
            fill_px(r, px, py, px + 1, py + 1, (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2]);
        }
    }
}

static void ras_colorbar(painter *pt, const fcs_plot *p, double x, double y, double w, double h)
{
    (void)p;
    raster *r = (raster *)pt;
    int b[4];
    px_box(r, x, y, w, h, b);
    int ph = b[3] - b[1];
    for (int py = b[1]; py < b[3]; py++) {
        int l = FCS_DENSITY_LEVELS - (int)((double)(py - b[1]) * FCS_DENSITY_LEVELS / ph);
        if (l < 1) l = 1;
        uint8_t c[3];
        fcs_density_color(l, c);
        fill_px(r, b[0], py, b[2], py + 1, (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2]);
    }
}

static void ras_histogram(painter *pt, const fcs_plot *p, double ymax, double x, double y, double w,
                          double h)
{
    raster *r = (raster *)pt;
    size_t n = p->h->nx;
    uint8_t c[3];
    fcs_density_color(90, c);
    uint32_t fill = (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
    for (size_t i = 0; i < n; i++) {
        double top = y + h - h * (double)p->h->counts[i] / ymax;
        double x0 = x + w * (double)i / (double)n, x1 = x + w * (double)(i + 1) / (double)n;
        int bx0 = px_round(x0 * r->k), bx1 = px_round(x1 * r->k);
        int by0 = px_round(top * r->k), by1 = px_round((y + h) * r->k);
        for (int py = by0; py < by1; py++)
            for (int px = bx0; px < bx1; px++) blend(r, px, py, fill, 0.75, 0);
    }
}

int fcs_plot_png(fcs_plot *p, uint8_t **out, size_t *len)
{
    if (!p || !out || !len) return FCS_EINVAL;
    *out = NULL;
    *len = 0;
    raster r;
    memset(&r, 0, sizeof r);
    r.base = (painter){ras_rect,    ras_frame,     ras_line,     ras_text, ras_text_width,
                       ras_density, ras_histogram, ras_colorbar, 0};
    r.k = p->o.png_scale;
    r.w = px_round(p->o.width * r.k);
    r.h = px_round(p->o.height * r.k);
    r.rgb = malloc((size_t)r.w * (size_t)r.h * 3);
    if (!r.rgb) return perr(p, FCS_ENOMEM, "plot: out of memory for a %dx%d image", r.w, r.h);
    /* The clip rectangle is known once the layout has placed the plot
     * area; draw_plot records it before anything clipped is drawn. */
    layout L;
    plot_layout(p, &L);
    px_box(&r, L.x, L.y, L.w, L.h, r.clip);
    draw_plot(&r.base, p);
    fcs_png_image img = {(uint32_t)r.w, (uint32_t)r.h, FCS_PNG_RGB, r.rgb, 0, NULL, 0, NULL, 0};
    fcs_error err;
    int rc = r.base.failed ? FCS_ENOMEM : fcs_png_encode(&img, out, len, &err);
    free(r.rgb);
    if (rc) return perr(p, rc, "plot: %s", rc == FCS_ENOMEM ? "out of memory" : err.msg);
    return FCS_OK;
}
