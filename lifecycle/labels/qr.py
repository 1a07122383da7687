"""QR codes for labels: the qrcode library's symbols, built fast enough for a 1,000-label sheet.

`qrcode.QRCode.make()` spends ~6 ms on a 60-70 character URL: it lays the symbol out eight times
(once per mask, module by module through lists of lists), scores each layout with
`util.lost_point`, which walks every module in Python four times, and runs Reed-Solomon through a
generic polynomial class. That is 6 s for a 1,000-label sheet. Here the same symbol is computed
with the whole symbol held as one Python int, one row per "lane" of width+1 bits (the extra, always
light bit keeps rows apart):

- the data bits are placed once; each of the eight masks is then one XOR and one OR;
- the penalty is scored with a few dozen shifts, ANDs and bit counts over that int, reproducing
  `util.lost_point` exactly (including its scoring of layouts with the format and version areas
  left light), so the mask chosen — and the whole symbol — is the one the library produces.
  Unit tests compare both the penalties and the symbols with the library's;
- Reed-Solomon uses a precomputed table per generator polynomial.

So there is no fixed-mask trade-off: decoding robustness is that of the library's own symbols.
Segmenting, mode encoding, version tables and the function-pattern layout still come from the
library, so a change there shows up in those tests rather than silently diverging.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

from qrcode import base, constants, exceptions, util
from qrcode.main import QRCode
from reportlab.pdfgen.pathobject import PDFPathObject

#: M recovers ~15 % damage and keeps a 70-character URL at version 5 (37×37 modules).
ERROR_CORRECTION = constants.ERROR_CORRECT_M
#: The light margin ISO/IEC 18004 requires around the symbol, in modules.
QUIET_ZONE = 4
#: The same threshold as `QRCode.add_data`, so the segments (and the symbol) match the library.
_OPTIMIZE_MIN = 20

_DARK_RUN = re.compile("1+")


def qr_matrix(data: str) -> list[list[bool]]:
    """The symbol's modules, top row first, True = dark; without the quiet zone."""
    text, width = _symbol_text(data)
    stride = width + 1
    return [[module == "1" for module in text[start + 1:start + stride]]
            for start in range(0, len(text), stride)]


def draw_qr(canvas, data: str, x: float, y: float, size: float) -> None:
    """Draws the symbol and its quiet zone in a `size`-point square whose lower-left corner is (x, y).

    The dark modules are one filled path of horizontal runs (~350 rectangles for a 65-character
    URL instead of ~700 single modules), in module units under a scaling transform. The runs of one
    path rasterise without hairline seams between them, and the integer coordinates are formatted
    here rather than by reportlab's `fp_str`, which is pure Python (the slowest part of drawing)
    unless the optional rl_accel extension is installed.
    """
    text, width = _symbol_text(data)
    stride = width + 1
    code = []
    for run in _DARK_RUN.finditer(text):  # the light gap bit ends every run at its row's end
        row, col = divmod(run.start(), stride)
        code.append(f"{col - 1} {row} {run.end() - run.start()} 1 re")
    module = size / (width + 2 * QUIET_ZONE)
    canvas.saveState()
    canvas.setFillColorRGB(0, 0, 0)
    # Origin at the symbol's top-left module, one unit per module, y growing downwards like rows.
    canvas.transform(module, 0, 0, -module,
                     x + QUIET_ZONE * module, y + size - QUIET_ZONE * module)
    canvas.drawPath(PDFPathObject(code=code), stroke=0, fill=1)
    canvas.restoreState()


def _symbol_text(data: str) -> tuple[str, int]:
    """The symbol as '0'/'1' text, row after row, each row preceded by its light gap bit."""
    version, codewords = _encode(data)
    grid = _grid(version, ERROR_CORRECTION)
    data_int = _placed(grid, codewords)
    best = min(range(8), key=lambda mask: _penalty(
        grid.function | (data_int ^ grid.masks[mask]), grid))
    symbol = grid.function | (data_int ^ grid.masks[best]) | grid.format_info[best]
    return format(symbol, f"0{grid.size * grid.stride}b"), grid.size


def _placed(grid: _Grid, codewords: list[int]) -> int:
    """The codeword bits at their module positions, unmasked."""
    bits = format(int.from_bytes(bytes(codewords), "big"), f"0{len(codewords) * 8}b") + "0"
    return int("".join(grid.place(bits)), 2)


def _penalty(symbol: int, grid: _Grid) -> int:
    """`util.lost_point`, computed for all rows (and, with lane-sized shifts, columns) at once.

    Bit k of a lane is column width-1-k, lane L is row width-1-L. A window property is computed
    at its lowest bit and counted only where the whole window lies inside the symbol.
    """
    lane = grid.stride
    light = ~symbol
    same = ~(symbol ^ (symbol >> 1))  # equal to the next module in the row
    same_v = ~(symbol ^ (symbol >> lane))  # equal to the module above

    # N1: each run of 5 or more alike scores 3 + (length - 5) = windows of 5 + 2 per run.
    points = 0
    for step, equal, window in ((1, same, grid.row_window5), (lane, same_v, grid.column_window5)):
        five = equal & (equal >> step) & (equal >> 2 * step) & (equal >> 3 * step) & window
        points += five.bit_count() + 2 * (five & ~(five << step)).bit_count()

    # N2: 3 per 2×2 block of one colour (overlapping blocks all count).
    points += 3 * (same & same_v & (same_v >> 1) & grid.blocks).bit_count()

    # N3: 40 per 1011101 with four light modules before or after it, in rows and columns.
    for step, window in ((1, grid.row_window11), (lane, grid.column_window11)):
        core = (symbol & (light >> step) & (symbol >> 2 * step) & (symbol >> 3 * step)
                & (symbol >> 4 * step) & (light >> 5 * step) & (symbol >> 6 * step))
        four_light = light & (light >> step) & (light >> 2 * step) & (light >> 3 * step)
        points += 40 * ((((core >> 4 * step) & four_light) | (core & (four_light >> 7 * step)))
                        & window).bit_count()

    # N4: 10 per full 5 % that the dark share departs from 50 % (same float steps as the library).
    percent = float(symbol.bit_count()) / (grid.size ** 2)
    return points + int(abs(percent * 100 - 50) / 5) * 10


class _Bits:
    """Just enough of util.BitBuffer for QRData.write, as one growing int."""

    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def put(self, number: int, length: int) -> None:
        self.value = (self.value << length) | number
        self.length += length


def _encode(data: str) -> tuple[int, list[int]]:
    """Version and interleaved codewords, as util.create_data with QRCode's default segmenting."""
    segments = list(util.optimal_data_chunks(data, minimum=_OPTIMIZE_MIN))
    limits = util.BIT_LIMIT_TABLE[ERROR_CORRECTION]
    payload = sum(_payload_bits(segment) for segment in segments)
    for version in range(1, 41):
        needed = payload + sum(4 + util.length_in_bits(segment.mode, version) for segment in segments)
        if needed <= limits[version]:
            break
    else:
        raise exceptions.DataOverflowError(f"QR: {len(data)} characters do not fit in version 40")

    bits = _Bits()
    for segment in segments:
        bits.put(segment.mode, 4)
        bits.put(len(segment), util.length_in_bits(segment.mode, version))
        segment.write(bits)
    limit = limits[version]
    bits.put(0, min(4, limit - bits.length))  # terminator
    bits.put(0, -bits.length % 8)
    padding = (limit - bits.length) // 8
    value = bits.value << (8 * padding) | int.from_bytes(bytes([0xEC, 0x11] * padding)[:padding], "big")
    data_bytes = value.to_bytes(limit // 8, "big")

    blocks = []
    offset = 0
    for block in base.rs_blocks(version, ERROR_CORRECTION):
        chunk = data_bytes[offset:offset + block.data_count]
        offset += block.data_count
        blocks.append((chunk, _reed_solomon(chunk, block.total_count - block.data_count)))
    codewords = [chunk[i] for i in range(max(len(c) for c, _ in blocks)) for chunk, _ in blocks
                 if i < len(chunk)]
    codewords += [ec[i] for i in range(max(len(e) for _, e in blocks)) for _, ec in blocks
                  if i < len(ec)]
    return version, codewords


def _payload_bits(segment: util.QRData) -> int:
    """What QRData.write will emit, known without writing it (optimal_data_chunks makes no kanji)."""
    count = len(segment)
    if segment.mode == util.MODE_NUMBER:
        return 10 * (count // 3) + (0, 4, 7)[count % 3]
    if segment.mode == util.MODE_ALPHA_NUM:
        return 11 * (count // 2) + 6 * (count % 2)
    return 8 * count


def _gf_tables() -> tuple[list[int], list[int]]:
    exp, log = [0] * 512, [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        value <<= 1
        if value & 0x100:
            value ^= 0x11D
    for power in range(255, 512):
        exp[power] = exp[power - 255]
    return exp, log


_EXP, _LOG = _gf_tables()


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


@lru_cache(maxsize=None)
def _rs_table(ec_count: int) -> tuple[int, ...]:
    """For each feedback byte, the generator's coefficients times that byte, packed in one int."""
    generator = [1]
    for power in range(ec_count):  # ∏ (x + α^i)
        generator = [a ^ _gf_mul(b, _EXP[power])
                     for a, b in zip(generator + [0], [0] + generator)]
    tail = generator[1:]
    return tuple(int.from_bytes(bytes(_gf_mul(factor, c) for c in tail), "big")
                 for factor in range(256))


def _reed_solomon(chunk: bytes, ec_count: int) -> bytes:
    """The remainder of chunk·x^ec_count divided by the generator: a shift register over ints."""
    table = _rs_table(ec_count)
    shift = 8 * (ec_count - 1)
    keep = (1 << (8 * ec_count)) - 1
    remainder = 0
    for byte in chunk:
        remainder = ((remainder << 8) & keep) ^ table[byte ^ (remainder >> shift)]
    return remainder.to_bytes(ec_count, "big")


@dataclass(frozen=True)
class _Grid:
    """What does not depend on the data, per version, as lane ints (see _penalty)."""

    size: int
    stride: int  # size + 1: the lane width, with its light gap bit
    function: int  # finders, separators, timing, alignment; the format area light
    #: Picks each position's data bit from the codeword bits + "0"; gap bits, function modules
    #: and remainder bits pick that final "0". itemgetter does this at C speed.
    place: itemgetter
    masks: tuple[int, ...]  # per mask: the data modules it inverts
    format_info: tuple[int, ...]  # per mask: format (and version) information, the dark module
    row_window5: int  # lowest bits of the 5-module windows inside a row, and so on
    column_window5: int
    blocks: int
    row_window11: int
    column_window11: int


@lru_cache(maxsize=None)
def _grid(version: int, error_correction: int) -> _Grid:
    """Built with the library's own pattern methods, in the order QRCode.makeImpl calls them."""
    width = version * 4 + 17
    stride = width + 1
    qr = QRCode(version=version, error_correction=error_correction)
    qr.modules_count = width

    def blank() -> list[list[bool | None]]:
        return [[None] * width for _ in range(width)]

    def bit(row: int, col: int) -> int:
        return 1 << ((width - 1 - row) * stride + width - 1 - col)

    def to_int(modules) -> int:
        return sum(bit(r, c) for r, line in enumerate(modules) for c, dark in enumerate(line) if dark)

    def windows(lanes: int, bits: int) -> int:
        return sum(((1 << bits) - 1) << (lane * stride) for lane in range(lanes))

    qr.modules = blank()
    qr.setup_position_probe_pattern(0, 0)
    qr.setup_position_probe_pattern(width - 7, 0)
    qr.setup_position_probe_pattern(0, width - 7)
    qr.setup_position_adjust_pattern()
    qr.setup_timing_pattern()
    qr.setup_type_info(True, 0)  # test=True: reserve the format area, all light
    if version >= 7:
        qr.setup_type_number(True)
    modules = qr.modules
    function = to_int(modules)

    cells = []  # data modules in placement order, as QRCode.map_data walks them
    row, step = width - 1, -1
    for col in range(width - 1, 0, -2):
        if col <= 6:  # skip the vertical timing pattern
            col -= 1
        while True:
            for c in (col, col - 1):
                if modules[row][c] is None:
                    cells.append((row, c))
            row += step
            if row < 0 or row >= width:
                row -= step
                step = -step
                break

    codeword_bits = 8 * sum(block.total_count for block in base.rs_blocks(version, error_correction))
    source = [codeword_bits] * (width * stride)  # text index of (r, c) is r*stride + 1 + c
    for index, (row, col) in enumerate(cells[:codeword_bits]):
        source[row * stride + 1 + col] = index

    masks = []
    format_info = []
    for mask in range(8):
        inverts = util.mask_func(mask)
        masks.append(sum(bit(row, col) for row, col in cells if inverts(row, col)))
        qr.modules = blank()
        qr.setup_type_info(False, mask)
        if version >= 7:
            qr.setup_type_number(False)
        format_info.append(to_int(qr.modules))

    return _Grid(
        size=width, stride=stride, function=function, place=itemgetter(*source),
        masks=tuple(masks), format_info=tuple(format_info),
        row_window5=windows(width, width - 4), column_window5=windows(width - 4, width),
        blocks=windows(width - 1, width - 1),
        row_window11=windows(width, width - 10), column_window11=windows(width - 10, width),
    )
