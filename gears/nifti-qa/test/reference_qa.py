#!/usr/bin/python3
"""Independent reference for the nifti-qa gear's metrics, with Debian's nibabel, numpy and scipy.

Same definitions as the gear (see gears/nifti-qa/README.md), different code: nibabel reads the
image and applies the scaling, scipy.ndimage labels, fills and erodes the masks, numpy and
scipy.stats do the statistics. Prints one JSON object of flat metrics (NaN as null).
Usage: /usr/bin/python3 reference_qa.py IMAGE.nii[.gz]
"""
import json
import math
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage as nd
from scipy import stats

DIETRICH = math.sqrt((4 - math.pi) / 2)


def summary(prefix, v):
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0:
        return {f"summary_{prefix}_{k}": None for k in ("mean", "median", "stdv", "mad", "p05", "p95", "k")} | {
            f"summary_{prefix}_n": 0
        }
    return {
        f"summary_{prefix}_mean": v.mean(),
        f"summary_{prefix}_median": np.median(v),
        f"summary_{prefix}_stdv": v.std(),
        f"summary_{prefix}_mad": stats.median_abs_deviation(v, scale="normal"),
        f"summary_{prefix}_p05": np.percentile(v, 5),
        f"summary_{prefix}_p95": np.percentile(v, 95),
        f"summary_{prefix}_k": stats.kurtosis(v) if v.std() > 0 else float("nan"),
        f"summary_{prefix}_n": int(v.size),
    }


def otsu_bins(img):
    lo, hi = img.min(), img.max()
    bins = np.minimum(255, np.floor((img - lo) / (hi - lo) * 256)).astype(np.int64)
    hist = np.bincount(bins.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)[:-1]
    m0 = np.cumsum(levels * hist)[:-1]
    w1 = hist.sum() - w0
    ok = (w0 > 0) & (w1 > 0)
    d = np.where(ok, m0 / np.where(ok, w0, 1) - (np.sum(levels * hist) - m0) / np.where(ok, w1, 1), 0)
    between = np.where(ok, w0 * w1 * (d * d), -1)
    k = int(np.argmax(between))
    return bins, k, lo + (k + 1) * (hi - lo) / 256


def kmeans3(v):
    c = np.percentile(v, [25, 50, 75])
    labels = np.full(v.size, -1)
    for _ in range(100):
        new = np.argmin(np.abs(v[:, None] - c[None, :]), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for k in range(3):
            if np.any(labels == k):
                c[k] = v[labels == k].mean()
    return labels, c


def fwhm(img, head, voxel):
    var = img[head].var()
    out = []
    for a in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a] = slice(0, -1)
        hi[a] = slice(1, None)
        pairs = head[tuple(lo)] & head[tuple(hi)]
        diffs = (img[tuple(hi)] - img[tuple(lo)])[pairs]
        rho = 1 - diffs.var() / (2 * var) if diffs.size >= 2 and var > 0 else float("nan")
        ok = 0 < rho < 1
        out.append(2 * math.sqrt(2 * math.log(2)) * math.sqrt(-1 / (4 * math.log(rho))) * voxel[a] if ok else None)
    avg = (out[0] * out[1] * out[2]) ** (1 / 3) if all(x is not None for x in out) else None
    return out + [avg]


def main(path):
    nii = nib.load(path)
    data = np.asarray(nii.get_fdata(dtype=np.float64))
    shape = data.shape + (1,) * (3 - data.ndim)
    nt = int(np.prod(shape[3:])) if len(shape) > 3 else 1
    data = data.reshape(shape[:3] + (nt,), order="F")
    img = data[..., 0] if nt == 1 else data.mean(axis=3)
    voxel = [float(z) if z > 0 else 1.0 for z in (list(nii.header.get_zooms()[:3]) + [1.0, 1.0, 1.0])[:3]]

    bins, k, threshold = otsu_bins(img)
    labels, n = nd.label(bins > k)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    head = nd.binary_fill_holes(labels == int(np.argmax(sizes)))
    air = ~head
    element = nd.generate_binary_structure(3, 2)
    fg = nd.binary_erosion(head, structure=element)
    fg = fg if fg.any() else head
    bg = nd.binary_erosion(air, structure=element)
    bg = bg if bg.any() else air

    m = {}
    m.update(summary("fg", img[fg]))
    m.update(summary("bg", img[bg] if air.any() else []))

    head_values = img[head]
    labels3, centroids = kmeans3(head_values)
    classes = [head_values[labels3 == c] for c in range(3)]
    for name, values in zip(("csf", "gm", "wm"), classes):
        m.update(summary(name, values))
    gm, wm = classes[1], classes[2]

    x = np.clip(img, 0, None)
    energy = math.sqrt((x**2).sum())
    nvox = x.size
    efc_max = nvox * (1 / math.sqrt(nvox)) * math.log(1 / math.sqrt(nvox))
    m["efc"] = float((x / energy * np.log((x + 1e-16) / energy)).sum() / efc_max)
    bg_energy = (img[air] ** 2).mean() if air.any() else float("nan")
    m["fber"] = float((img[head] ** 2).mean() / bg_energy) if bg_energy >= 1e-3 else -1.0

    mu_fg, sd_fg, n_fg = img[fg].mean(), img[fg].std(), img[fg].size
    sd_bg = m["summary_bg_stdv"]
    mad_bg = m["summary_bg_mad"]
    if mad_bg is not None and mad_bg > 1:
        m["snr"] = DIETRICH * mu_fg / mad_bg
    else:
        m["snr"] = DIETRICH * mu_fg / sd_bg if sd_bg is not None and sd_bg > 1e-3 else -1.0
    m["snr_fg"] = mu_fg / (sd_fg * math.sqrt(n_fg / (n_fg - 1)))
    m["cjv"] = (wm.std() + gm.std()) / abs(wm.mean() - gm.mean())
    m["cnr"] = abs(wm.mean() - gm.mean()) / math.sqrt(sd_bg**2 + gm.std() ** 2 + wm.std() ** 2)
    m["fwhm_x"], m["fwhm_y"], m["fwhm_z"], m["fwhm_avg"] = fwhm(img, head, voxel)
    m["mask_otsu_threshold"] = threshold
    m["mask_head_voxels"] = int(head.sum())
    m["mask_air_voxels"] = int(air.sum())
    m["mask_fg_eroded_voxels"] = int(fg.sum())
    m["mask_bg_eroded_voxels"] = int(bg.sum())
    m["tissue_kmeans_centroids"] = [float(c) for c in centroids]

    if nt > 1:
        series = data[head]  # voxels × time
        gs = series.mean(axis=0)
        mu = series.mean(axis=1)
        sd = series.std(axis=1)
        tsnr = np.where(sd > 1e-3, mu / np.where(sd > 1e-3, sd, 1), 0)
        scale = 1000 / np.median(img[head])
        diffs = np.diff(series, axis=1) * scale
        dvars = np.sqrt((diffs**2).mean(axis=0))
        dev = series - mu[:, None]
        ss = (dev**2).sum(axis=1)
        lag = (dev[:, 1:] * dev[:, :-1]).sum(axis=1)
        rho = np.where(ss > 0, lag / np.where(ss > 0, ss, 1), 0)
        sigma = sd * scale
        expected = 2 * (1 - rho) * sigma**2
        d0 = math.sqrt(expected.mean())
        ok = (sigma > 1e-3) & (expected > 0)
        vstd = np.sqrt((diffs[ok] ** 2 / expected[ok][:, None]).mean(axis=0))
        m.update(
            tsnr=np.median(tsnr),
            dvars_nstd=dvars.mean(),
            dvars_std=(dvars / d0).mean(),
            dvars_vstd=vstd.mean(),
            global_signal_mean=gs.mean(),
            global_signal_std=gs.std(),
            global_signal_min=gs.min(),
            global_signal_max=gs.max(),
            global_signal_range_pct=(gs.max() - gs.min()) / gs.mean() * 100,
            timeseries={
                "global_signal": gs.tolist(),
                "dvars_nstd": dvars.tolist(),
                "dvars_std": (dvars / d0).tolist(),
                "dvars_vstd": vstd.tolist(),
            },
        )

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if v is None:
            return None
        v = float(v) if not isinstance(v, int) else v
        return None if isinstance(v, float) and not math.isfinite(v) else v

    print(json.dumps(clean(m)))


if __name__ == "__main__":
    main(sys.argv[1])
