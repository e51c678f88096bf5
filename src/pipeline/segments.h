// Where to cut one input into keyframe-aligned segments. Pure functions of timestamps (any one time
// base: the keyframes', the end's and the lengths' must agree); pipeline.cpp's plan() calls them.
//
// A cut is a keyframe's timestamp: segment j runs from cut j-1 (the first keyframe for j = 0) to cut
// j (the input's end for the last one). The result holds the cuts only, so it is empty when the
// input is not split. Every cut is one of `keys`, after the first keyframe and before `end`, and the
// cuts strictly increase.
//
// Why guided (decreasing) sizes in auto mode: the workers of one input do not start together. NVDEC
// sessions are created one at a time (about 50 ms each on an H200), so the k-th worker starts
// decoding about 50·k ms after the first. With as many equal segments as workers, the late workers
// also finish late and the early ones sit idle at the end (measured: 8 workers on a 310 s input,
// segments finishing between 1500 and 1892 ms). Handing out segments of decreasing size in order
// (guided self-scheduling) lets a worker that finishes early take another, smaller segment, so the
// work left at the end, the tail, is one small segment rather than a late worker's 1/k of the input.
// An extra segment is cheap: its worker keeps its NVDEC session and only opens and seeks a demuxer.
#pragma once

#include <cstdint>
#include <vector>

namespace vidinfer {

// Guided self-scheduling cuts for `workers` workers sharing one input that runs from keys.front()
// to `end`. From the current cut (first: keys.front()), with R the time left to `end`, the next
// segment's length is aimed at clamp(R / workers, min_len, max_len) and cut at the keyframe nearest
// to that, among the keyframes that leave this segment and the rest both at least `min_len` long and
// make it no longer than `max_len` or the previous segment. If none does, the first keyframe that
// keeps both at least `min_len` is taken (a gap between keyframes forces a longer segment). Cutting
// stops when the target itself, or every keyframe, would leave less than `min_len` after the cut:
// the rest is the last segment (at least `min_len`; with regular keyframes and several workers,
// below 2·min_len plus one keyframe interval). So no segment is shorter than `min_len`
// unless the whole input is, and the segments before the last never grow with regular keyframes.
// `keys` need not be sorted. Empty when workers < 1, no keyframes, or end <= the first keyframe.
std::vector<int64_t> guided_cuts(const std::vector<int64_t>& keys, int64_t end, int workers, int64_t min_len,
                                 int64_t max_len);

// Cuts into at most `segments` near-equal segments (what --segments N asks for): at the keyframes
// nearest to the N-1 evenly spaced points between keys.front() and `end` (the stream's real end, so
// the last segment is a 1/N like the others, not the final GOP), dropping a point that falls on the
// keyframe of the one before (fewer segments then). Empty when segments < 2, fewer than two
// keyframes, or end <= the first keyframe.
std::vector<int64_t> even_cuts(const std::vector<int64_t>& keys, int64_t end, int segments);

}  // namespace vidinfer
