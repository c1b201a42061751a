"""The not-a-digit rule's rates (tuning half, held-out half, MNIST test digits, pad-drawn digits, issue 20's drawings);
with the argument 'shapes' also the held-out SHAPES (two more rules, each learned from one group of shapes only).
usage: PYTHONPATH=. python benchmarks/not_a_digit_rates.py [shapes]   (about 1 minute with shapes)"""
import re, sys, time, numpy as np, scratchcnn
from scratchcnn import load_mnist, load_model, preprocess_digit
from course_machinery import digit_likeness as dl
model = load_model(scratchcnn.DEFAULT_MODEL_PATH)
test, _ = load_mnist("test")
prep = lambda pics: np.stack([preprocess_digit(p) for p in pics])
test_pictures = prep(test[:, 0]); drawn = dl.drawn_digits(); drawn_pictures = prep(drawn.values())
halves = {half: dl.non_digit_drawings(half) for half in ("tuning", "held-out")}
half_pictures = {half: prep(d.values()) for half, d in halves.items()}
def base(name): return re.sub(r" #\d+$| \d+( \(.*\))?$", "", name)
def report(likeness, label, groups=None):
    t = likeness.flags(test_pictures); d = likeness.flags(drawn_pictures)["any"]
    print(f"[{label}] MNIST test digits flagged: {100 * t['any'].mean():.2f}% ({t['any'].sum()} of 10,000; "
          + ", ".join(f"{k} {v.sum()}" for k, v in t.items() if k != "any") + f"); pad-drawn digits flagged: {d.sum()} of {len(d)}")
    for half, d in halves.items():
        f = likeness.flags(half_pictures[half]); hit = f["any"]
        names = [base(n) for n in d]
        if groups is None:
            missed = sorted({n for n, h in zip(names, hit) if not h})
            print(f"  {half}: {100 * hit.mean():.0f}% ({hit.sum()} of {len(hit)}); learned alone {f['learned'].sum()}, old three-way unusualness alone {f['unusual'].sum()}; missed: {', '.join(missed)}")
        else:
            keep = np.array([n in groups for n in names])
            missed = sorted({n for n, h, k in zip(names, hit, keep) if k and not h})
            print(f"  {half}, never-seen shapes only: {100 * hit[keep].mean():.0f}% ({hit[keep].sum()} of {keep.sum()}); missed: {', '.join(missed)}")
t0 = time.time(); likeness = dl.DigitLikeness(model); print(f"building the rule: {time.time() - t0:.1f} s")
report(likeness, "shipped rule, learned from all shapes (seed 3)")
for name in ("letter A", "plus sign", "triangle", "square", "diamond", "letter H", "letter T", "letter Y"):
    pic = dl.draw_strokes([[(280 * y, 280 * x) for y, x in st] for st in dl.NON_DIGIT_SHAPES[name]])
    print(f"  straight {name}: flagged {bool(likeness.flags(preprocess_digit(pic))['any'][0])}")
for length, deg in ((0.6, 10), (0.6, 0), (0.8, -20), (0.4, 25)):
    pic = dl.draw_strokes(dl._line(length, deg))
    print(f"  line {length:.0%} at {deg} deg: flagged {bool(likeness.flags(preprocess_digit(pic))['any'][0])}")
if "shapes" in sys.argv:
    letters_scribbles = {n for n in dl.NON_DIGIT_SHAPES if n.startswith("letter")} | {"scribble"}
    signs_shapes_lines = (set(dl.NON_DIGIT_SHAPES) - letters_scribbles) | {"line"}
    for learn, measure in ((letters_scribbles, signs_shapes_lines), (signs_shapes_lines, letters_scribbles)):
        drawings = dl.non_digit_drawings("learning", copies=12, lines=60 if "line" in learn else 0,
                                         scribbles=60 if "scribble" in learn else 0, shapes=learn)
        rule = dl.DigitLikeness(model, learning_drawings=drawings)
        report(rule, f"learned only from {'letters and scribbles' if 'scribble' in learn else 'signs, shapes and lines'}", groups=measure)
