// The ScratchCNN demo page: the network of the notebooks, run in plain JavaScript.
//
// Written by course_machinery/standalone_page.py, which puts this script and the
// model's weights (base64 float32) into one HTML file that loads nothing else.
// Every function here repeats one function of scratchcnn.py, named in its comment;
// tests/test_standalone_page.py checks in Chromium that the results equal NumPy's.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("scratchcnn-data").textContent);

  // ---------------------------------------------------------------------------
  // Numbers from base64 (little-endian float32, as NumPy's "<f4" writes them)
  // ---------------------------------------------------------------------------
  function bytesFromBase64(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  function float32FromBase64(text) {
    const bytes = bytesFromBase64(text);
    const view = new DataView(bytes.buffer);
    const values = new Float32Array(bytes.length / 4);
    for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
    return values;
  }

  // ---------------------------------------------------------------------------
  // The layers (scratchcnn.py, section 2). A tensor is {shape, data}: shape [C, H, W]
  // for images, [D] for vectors; data a Float64Array in that (row-major) order.
  // Weights stay float32; sums are taken in float64.
  // ---------------------------------------------------------------------------
  function outputSize(size, kernel, stride, padding) {        // conv_output_size
    const out = Math.floor((size + 2 * padding - kernel) / stride) + 1;
    if (out < 1) throw new Error(`kernel ${kernel} with padding ${padding} does not fit an input of size ${size}`);
    return out;
  }

  function conv2d(x, W, b, config) {                          // Conv2D.forward, conv2d_naive
    const [C, H, Wd] = x.shape, F = config.out_channels, k = config.kernel_size;
    const s = config.stride, p = config.padding;
    if (C !== config.in_channels) throw new Error(`Conv2D expects ${config.in_channels} channels, got ${C}`);
    const Ho = outputSize(H, k, s, p), Wo = outputSize(Wd, k, s, p);
    const out = new Float64Array(F * Ho * Wo), data = x.data;
    // out[f, y, x] = b[f] + sum_{c,i,j} W[f, c, i, j] * x_pad[c, s*y + i, s*x + j], one weight at a
    // time: weight (f, c, i, j) meets input row s*y + i - p and column s*x + j - p; the
    // zero padding is the rows and columns outside the input, which add nothing.
    const first = (offset) => Math.max(0, Math.ceil((p - offset) / s));
    const last = (offset, size, outSize) => Math.min(outSize - 1, Math.floor((size - 1 + p - offset) / s));
    for (let f = 0; f < F; f++) {
      const plane = f * Ho * Wo;
      out.fill(b[f], plane, plane + Ho * Wo);
      for (let c = 0; c < C; c++) {
        for (let i = 0; i < k; i++) {
          const y0 = first(i), y1 = last(i, H, Ho);
          for (let j = 0; j < k; j++) {
            const weight = W[((f * C + c) * k + i) * k + j], x0 = first(j), x1 = last(j, Wd, Wo);
            for (let y = y0; y <= y1; y++) {
              const input = (c * H + s * y + i - p) * Wd + j - p, output = plane + y * Wo;
              for (let xo = x0; xo <= x1; xo++) out[output + xo] += weight * data[input + s * xo];
            }
          }
        }
      }
    }
    return { shape: [F, Ho, Wo], data: out };
  }

  function maxPool2d(x, config) {                             // MaxPool2D.forward
    const [C, H, W] = x.shape, k = config.kernel_size, s = config.stride;
    const Ho = outputSize(H, k, s, 0), Wo = outputSize(W, k, s, 0);
    const out = new Float64Array(C * Ho * Wo);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < Ho; y++) {
        for (let xo = 0; xo < Wo; xo++) {
          let best = -Infinity;
          for (let i = 0; i < k; i++) {
            for (let j = 0; j < k; j++) {
              best = Math.max(best, x.data[(c * H + s * y + i) * W + s * xo + j]);
            }
          }
          out[(c * Ho + y) * Wo + xo] = best;
        }
      }
    }
    return { shape: [C, Ho, Wo], data: out };
  }

  function elementwise(x, f) {
    return { shape: x.shape, data: x.data.map(f) };
  }

  function dense(x, W, b, config) {                           // Dense.forward: x @ W + b
    const D = config.in_features, M = config.out_features;
    if (x.shape.length !== 1 || x.data.length !== D) {
      throw new Error(`Dense expects ${D} features, got shape [${x.shape}]` +
                      (x.shape.length > 1 ? " (put a Flatten before Dense)" : ""));
    }
    const out = new Float64Array(M);
    for (let m = 0; m < M; m++) out[m] = b[m];
    for (let d = 0; d < D; d++) {
      const value = x.data[d];
      if (value === 0) continue;                              // ReLU zeros add nothing
      for (let m = 0; m < M; m++) out[m] += value * W[d * M + m];
    }
    return { shape: [M], data: out };
  }

  function batchNorm(x, arrays, eps) {                        // BatchNorm1D/2D.forward in eval mode
    const channels = arrays.gamma.length;
    const perChannel = x.data.length / channels;              // 1 for vectors, H*W for images
    if (x.shape[0] !== channels) throw new Error(`BatchNorm expects ${channels} channels, got shape [${x.shape}]`);
    const out = new Float64Array(x.data.length);
    for (let c = 0; c < channels; c++) {
      const scale = arrays.gamma[c] / Math.sqrt(arrays.running_var[c] + eps);
      for (let i = c * perChannel; i < (c + 1) * perChannel; i++) {
        out[i] = (x.data[i] - arrays.running_mean[c]) * scale + arrays.beta[c];
      }
    }
    return { shape: x.shape, data: out };
  }

  function layerNorm(x, arrays, eps) {                        // LayerNorm.forward: one example over its features
    const D = arrays.gamma.length;
    if (x.shape.length !== 1 || x.shape[0] !== D) throw new Error(`LayerNorm expects ${D} features, got shape [${x.shape}]`);
    let mean = 0, variance = 0;
    for (let d = 0; d < D; d++) mean += x.data[d];
    mean /= D;
    for (let d = 0; d < D; d++) variance += (x.data[d] - mean) ** 2;
    const scale = 1 / Math.sqrt(variance / D + eps);          // the population variance, as np.var
    const out = new Float64Array(D);
    for (let d = 0; d < D; d++) out[d] = (x.data[d] - mean) * scale * arrays.gamma[d] + arrays.beta[d];
    return { shape: x.shape, data: out };
  }

  // A layer of the model file -> a function tensor -> tensor.
  function buildLayer(spec) {
    const config = spec.config, arrays = {};
    for (const [name, text] of Object.entries(spec.arrays || {})) arrays[name] = float32FromBase64(text);
    switch (spec.type) {
      case "Conv2D": return (x) => conv2d(x, arrays.W, arrays.b, config);
      case "MaxPool2D": return (x) => maxPool2d(x, config);
      case "ReLU": return (x) => elementwise(x, (v) => (v > 0 ? v : 0));
      case "LeakyReLU": return (x) => elementwise(x, (v) => (v > 0 ? v : v * config.negative_slope));
      case "Flatten": return (x) => ({ shape: [x.data.length], data: x.data });
      case "Dropout": return (x) => x;                       // evaluation mode: the identity
      case "Dense": return (x) => dense(x, arrays.W, arrays.b, config);
      case "BatchNorm1D": case "BatchNorm2D": return (x) => batchNorm(x, arrays, config.eps);
      case "LayerNorm": return (x) => layerNorm(x, arrays, config.eps);
      case "Residual": {                                      // y = x + f(x)
        const inner = spec.layers.map(buildLayer);
        return (x) => {
          let out = x;
          for (const layer of inner) out = layer(out);
          if (out.shape.join() !== x.shape.join()) throw new Error("Residual: the inner layers change the shape");
          return { shape: x.shape, data: x.data.map((v, i) => v + out.data[i]) };
        };
      }
      default:
        throw new Error(`this page cannot run a ${spec.type} layer`);
    }
  }

  const LAYERS = DATA.model.layers.map(buildLayer);
  const TYPES = DATA.model.layers.map((spec) => spec.type);

  function softmax(logits) {                                  // softmax = exp(log_softmax)
    const top = Math.max(...logits);
    let total = 0;
    for (const z of logits) total += Math.exp(z - top);
    const logTotal = Math.log(total);
    return Array.from(logits, (z) => Math.exp(z - top - logTotal));
  }

  // One 28 x 28 picture (784 numbers, row by row) -> probabilities, logits, feature maps.
  // The feature maps are plots.conv_feature_maps: for each Conv2D of the model, its
  // output after the ReLU / LeakyReLU that follows it, if one does.
  function forward(pixels) {
    let x = { shape: [1, 28, 28], data: Float64Array.from(pixels, Math.fround) };
    const outputs = [], shapes = [x.shape];
    for (const layer of LAYERS) {
      x = layer(x);
      outputs.push(x);
      shapes.push(x.shape);
    }
    const featureMaps = [];
    TYPES.forEach((type, i) => {
      if (type !== "Conv2D") return;
      const activated = i + 1 < TYPES.length && (TYPES[i + 1] === "ReLU" || TYPES[i + 1] === "LeakyReLU");
      const maps = outputs[activated ? i + 1 : i];
      featureMaps.push({ position: i, shape: maps.shape, data: maps.data });
    });
    const logits = Array.from(x.data);
    const probabilities = softmax(logits);
    return { logits, probabilities, prediction: argmax(probabilities), featureMaps, shapes };
  }

  function argmax(values) {
    let best = 0;
    values.forEach((v, i) => { if (v > values[best]) best = i; });
    return best;
  }

  // ---------------------------------------------------------------------------
  // Preprocessing a drawing (scratchcnn.py, section 8): to_grey, resize_image,
  // centre_of_mass, preprocess_digit. An image is {height, width, data}.
  // ---------------------------------------------------------------------------
  function pythonRound(v) {                                   // Python's round(): halves go to the even neighbour
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  // to_grey of an RGBA canvas: bytes / 255 as float32 (what matplotlib's imread gives
  // for a PNG), alpha over white, then 0.299 R + 0.587 G + 0.114 B.
  function toGrey(imageData) {
    const { width, height, data } = imageData;
    const grey = new Float64Array(width * height);
    for (let i = 0; i < grey.length; i++) {
      const alpha = Math.fround(data[4 * i + 3] / 255), paper = 1 - alpha;
      const r = Math.fround(data[4 * i] / 255) * alpha + paper;
      const g = Math.fround(data[4 * i + 1] / 255) * alpha + paper;
      const b = Math.fround(data[4 * i + 2] / 255) * alpha + paper;
      grey[i] = r * 0.299 + g * 0.587 + b * 0.114;
    }
    return { height, width, data: grey };
  }

  function resizeWeights(nIn, nOut) {                        // resize_image's weights(): area overlaps
    const rows = [];
    for (let o = 0; o < nOut; o++) {
      const row = new Float64Array(nIn);
      let total = 0;
      for (let i = 0; i < nIn; i++) {
        const overlap = Math.min((o + 1) / nOut, (i + 1) / nIn) - Math.max(o / nOut, i / nIn);
        row[i] = Math.max(overlap, 0);
        total += row[i];
      }
      rows.push(row.map((v) => v / total));
    }
    return rows;
  }

  function resizeImage(image, height, width) {                // R_rows @ image @ R_cols.T
    const R = resizeWeights(image.height, height), S = resizeWeights(image.width, width);
    const half = new Float64Array(height * image.width);     // R_rows @ image
    for (let y = 0; y < height; y++) {
      for (let i = 0; i < image.height; i++) {
        const weight = R[y][i];
        if (weight === 0) continue;
        for (let x = 0; x < image.width; x++) half[y * image.width + x] += weight * image.data[i * image.width + x];
      }
    }
    const out = new Float64Array(height * width);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let j = 0; j < image.width; j++) sum += half[y * image.width + j] * S[x][j];
        out[y * width + x] = sum;
      }
    }
    return { height, width, data: out };
  }

  function centreOfMass(image) {                              // (row, column) of the ink-weighted mean position
    let total = 0, row = 0, column = 0;
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        const v = image.data[y * image.width + x];
        total += v;
        row += y * v;
        column += x * v;
      }
    }
    return [row / total, column / total];
  }

  function median(values) {
    const sorted = Array.from(values).sort((a, b) => a - b), n = sorted.length;
    return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  const MNIST_CENTRE_OF_MASS = [14.0, 14.0];

  // preprocess_digit(grey, return_steps=True): null for a blank picture.
  function preprocessDigit(grey) {
    const { height: H, width: W } = grey, at = (y, x) => grey.data[y * W + x];
    const border = [];
    for (let x = 0; x < W; x++) border.push(at(0, x));
    for (let x = 0; x < W; x++) border.push(at(H - 1, x));
    for (let y = 0; y < H; y++) border.push(at(y, 0));
    for (let y = 0; y < H; y++) border.push(at(y, W - 1));
    const light = border.reduce((a, b) => a + b, 0) / border.length > 0.5;   // dark digit on light paper: invert
    const paper = median(light ? border.map((v) => 1 - v) : border);
    const ink = { height: H, width: W, data: grey.data.map((v) => Math.min(Math.max((light ? 1 - v : v) - paper, 0), 1)) };
    let brightest = 0;
    for (const v of ink.data) brightest = Math.max(brightest, v);
    if (brightest <= 0) return null;
    let top = H, bottom = -1, left = W, right = -1;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (ink.data[y * W + x] > 0.1 * brightest) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    if (bottom < 0) return null;
    const h = bottom - top + 1, w = right - left + 1;
    const cropped = { height: h, width: w, data: new Float64Array(h * w) };
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) cropped.data[y * w + x] = ink.data[(top + y) * W + left + x];
    const scale = 20 / Math.max(h, w);
    const newH = Math.max(1, pythonRound(h * scale)), newW = Math.max(1, pythonRound(w * scale));
    const scaled = resizeImage(cropped, newH, newW);
    let largest = 0;
    for (const v of scaled.data) largest = Math.max(largest, v);
    scaled.data = scaled.data.map((v) => v / largest);
    const [comY, comX] = centreOfMass(scaled);
    const clip = (v, low, high) => Math.min(Math.max(v, low), high);
    const row = clip(pythonRound(MNIST_CENTRE_OF_MASS[0] - comY), 0, 28 - newH);
    const column = clip(pythonRound(MNIST_CENTRE_OF_MASS[1] - comX), 0, 28 - newW);
    const centred = { height: 28, width: 28, data: new Float32Array(28 * 28) };
    for (let y = 0; y < newH; y++) for (let x = 0; x < newW; x++) centred.data[(row + y) * 28 + column + x] = scaled.data[y * newW + x];
    return { ink, cropped, scaled, centred, centreOfMass: centreOfMass(centred) };
  }

  // ---------------------------------------------------------------------------
  // Showing things
  // ---------------------------------------------------------------------------
  // format_percent (widgets.py): never "100.0%" below 1, never "0.0%" above 0.
  function formatPercent(probability) {
    const percent = 100 * probability;
    if (percent >= 99.95) return percent < 99.995 ? `${percent.toFixed(2)}%` : "> 99.99%";
    if (percent > 0 && percent < 0.05) return "< 0.1%";
    return `${percent.toFixed(1)}%`;
  }

  // Paint a grey image (values / vmax, clipped to [0, 1]) onto a canvas, one canvas pixel each.
  function paintGrey(canvas, image, vmax) {
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d"), picture = context.createImageData(image.width, image.height);
    for (let i = 0; i < image.data.length; i++) {
      const v = Math.round(255 * Math.min(Math.max(image.data[i] / vmax, 0), 1));
      picture.data.set([v, v, v, 255], 4 * i);
    }
    context.putImageData(picture, 0, 0);
  }

  // A canvas shown in its square frame without distortion (like plots._fit_in_square).
  function fitInFrame(canvas) {
    const longer = Math.max(canvas.width, canvas.height);
    canvas.style.width = `${(100 * canvas.width) / longer}%`;
    canvas.style.height = `${(100 * canvas.height) / longer}%`;
  }

  function element(tag, attributes = {}, text = "") {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
    if (text) made.textContent = text;
    return made;
  }

  // Ten rows "digit, bar, percentage" in a container; returns update(probabilities, predicted, trueLabel).
  function probabilityBars(container) {
    const rows = [];
    for (let digit = 0; digit < 10; digit++) {
      const row = element("li", { class: "bar-row" });
      const fill = element("span", { class: "bar-fill" });
      const track = element("span", { class: "bar-track", "aria-hidden": "true" });
      track.appendChild(fill);
      const percent = element("span", { class: "bar-percent" });
      row.append(element("span", { class: "bar-digit" }, String(digit)), track, percent);
      container.appendChild(row);
      rows.push({ row, fill, percent });
    }
    return (probabilities, predicted, trueLabel) => {
      rows.forEach(({ row, fill, percent }, digit) => {
        const p = probabilities ? probabilities[digit] : 0;
        fill.style.width = `${100 * p}%`;
        percent.textContent = probabilities ? formatPercent(p) : "";
        let kind = "";
        if (digit === predicted) kind = trueLabel === undefined || trueLabel === predicted ? "predicted" : "wrong";
        else if (digit === trueLabel) kind = "true-label";
        row.className = `bar-row ${kind}`;
        row.setAttribute("aria-label", probabilities ? `${digit}: ${formatPercent(p)}` +
          (kind === "predicted" || kind === "wrong" ? ", the prediction" : "") +
          (digit === trueLabel ? ", the true label" : "") : `${digit}: nothing yet`);
      });
    };
  }

  // The feature maps of one convolution: one small canvas each, brightness divided by
  // the layer's largest value (as plots.tile_feature_maps), in a labelled figure.
  function showFeatureMaps(container, maps, number) {
    const [C, H, W] = maps.shape;
    let largest = 0;
    for (const v of maps.data) largest = Math.max(largest, v);
    container.replaceChildren();
    for (let c = 0; c < C; c++) {
      const canvas = element("canvas", { class: "feature-map", title: `map ${c + 1}` });
      paintGrey(canvas, { height: H, width: W, data: maps.data.slice(c * H * W, (c + 1) * H * W) }, largest > 0 ? largest : 1);
      container.appendChild(canvas);
    }
    container.setAttribute("aria-label", `the ${C} feature maps of convolution ${number}, ${H} x ${W} pixels each: ` +
      `bright where the filter found its pattern (brightest value ${largest.toFixed(2)})`);
  }

  // The filters of the first convolution when it reads one grey channel: k x k weights
  // each, red positive, blue negative, white 0 (scaled by the largest |weight|).
  function showFilters(container) {
    const position = TYPES.indexOf("Conv2D");
    const spec = DATA.model.layers[position];
    if (position < 0 || spec.config.in_channels !== 1) { container.remove(); return; }
    const W = float32FromBase64(spec.arrays.W), k = spec.config.kernel_size, F = spec.config.out_channels;
    let largest = 0;
    for (const w of W) largest = Math.max(largest, Math.abs(w));
    for (let f = 0; f < F; f++) {
      const canvas = element("canvas", { class: "feature-map", width: k, height: k, title: `filter ${f + 1}` });
      const context = canvas.getContext("2d"), picture = context.createImageData(k, k);
      for (let i = 0; i < k * k; i++) {
        const v = W[f * k * k + i] / (largest || 1), fade = Math.round(255 * (1 - Math.abs(v)));
        picture.data.set(v >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], 4 * i);
      }
      context.putImageData(picture, 0, 0);
      container.appendChild(canvas);
    }
    container.setAttribute("aria-label", `the ${F} filters of convolution 1, ${k} x ${k} weights each: ` +
      "red where a weight is positive, blue where it is negative");
  }

  // The first two convolutions' maps in the two containers (ids); blank ones when there are none.
  function showAllMaps(ids, featureMaps) {
    ids.forEach((id, k) => {
      const container = $(id), maps = featureMaps[k];
      if (maps) showFeatureMaps(container, maps, k + 1);
      else {
        container.replaceChildren();
        container.setAttribute("aria-label", featureMaps.length ? "this network has no such convolution" : "nothing drawn yet");
      }
    });
  }

  // ---------------------------------------------------------------------------
  // The page
  // ---------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const DIGITS = {
    indices: DATA.digits.indices, labels: DATA.digits.labels,
    pixels: bytesFromBase64(DATA.digits.pixels),
  };
  const digitPixels = (n) => Array.from(DIGITS.pixels.subarray(784 * n, 784 * (n + 1)), (v) => Math.fround(v / 255));

  // What the network says about every embedded test digit, computed here, in chunks of
  // 20 digits between which the page stays responsive (a deep network on a tablet takes
  // seconds for all of them); then() runs when all are done.
  const sample = [], mistakes = [];
  function readAllDigits(then) {
    const end = Math.min(sample.length + 20, DIGITS.indices.length);
    for (let n = sample.length; n < end; n++) {
      const result = forward(digitPixels(n));
      sample.push({ index: DIGITS.indices[n], label: DIGITS.labels[n], probabilities: result.probabilities,
                    prediction: result.prediction });
      if (result.prediction !== DIGITS.labels[n]) mistakes.push(n);
    }
    if (end < DIGITS.indices.length) setTimeout(() => readAllDigits(then), 0);
    else then();
  }

  // -- the header: what network this is --
  const metadata = DATA.model.metadata || {};
  $("model-name").textContent = DATA.model.name;
  $("model-parameters").textContent = DATA.model.parameters.toLocaleString("en");
  $("model-accuracy").textContent = typeof metadata.test_accuracy === "number"
    ? `${(100 * metadata.test_accuracy).toFixed(2)}% of MNIST's 10,000 test digits right when it was trained`
    : "its test accuracy was not saved with it";
  const shapes = forward(digitPixels(0)).shapes;
  const architecture = $("architecture");
  architecture.appendChild(element("li", {}, `input       ${shapes[0].join(" x ")}`));
  DATA.model.layers.forEach((spec, i) => {
    const settings = Object.entries(spec.config).map(([k, v]) => `${k}=${v}`).join(", ");
    const inner = spec.layers ? ` (${spec.layers.map((layer) => layer.type).join(", ")})` : "";
    architecture.appendChild(element("li", {}, `(${i}) ${spec.type}${inner}${settings ? ` ${settings}` : ""} \u2192 ${shapes[i + 1].join(" x ")}`));
  });

  // -- the drawing pad --
  const pad = $("pad"), padContext = pad.getContext("2d", { willReadFrequently: true });
  const LINE_WIDTH = 18;
  const padBars = probabilityBars($("pad-bars"));
  const STEPS = [["ink", "your drawing"], ["cropped", "cropped to the ink"],
                 ["scaled", "scaled to 20 pixels"], ["centred", "centred in 28 x 28"]];
  const padState = { probabilities: null, prediction: null, steps: null, png: null };

  function blankPad() {
    padContext.fillStyle = "black";
    padContext.fillRect(0, 0, pad.width, pad.height);
  }

  function readPad(announce) {
    const steps = preprocessDigit(toGrey(padContext.getImageData(0, 0, pad.width, pad.height)));
    padState.steps = steps;
    STEPS.forEach(([name, title], k) => {
      const canvas = $(`step-${k + 1}`), caption = $(`step-${k + 1}-size`);
      if (!steps) {
        paintGrey(canvas, { height: 1, width: 1, data: [0.2] }, 1);
        caption.textContent = "nothing drawn yet";
      } else {
        paintGrey(canvas, steps[name], 1);
        caption.textContent = `${steps[name].height} x ${steps[name].width} pixels`;
      }
      fitInFrame(canvas);
      canvas.setAttribute("aria-label", `step ${k + 1}, ${title}: ${caption.textContent}`);
    });
    if (!steps) {
      Object.assign(padState, { probabilities: null, prediction: null });
      padBars(null, -1);
      showAllMaps(["pad-maps-1", "pad-maps-2"], []);
      $("pad-digit").textContent = "?";
      $("pad-prediction").textContent = "Draw a digit on the black square.";
      return;
    }
    const result = forward(steps.centred.data);
    Object.assign(padState, { probabilities: result.probabilities, prediction: result.prediction });
    padBars(result.probabilities, result.prediction);
    showAllMaps(["pad-maps-1", "pad-maps-2"], result.featureMaps);
    $("pad-digit").textContent = String(result.prediction);
    if (announce) {
      $("pad-prediction").textContent = `The network reads your drawing as ${result.prediction}, ` +
        `${formatPercent(result.probabilities[result.prediction])} sure.`;
    }
  }

  let drawing = false, last = null, pending = false;
  function padPoint(event) {
    const box = pad.getBoundingClientRect();
    return [((event.clientX - box.left) * pad.width) / box.width, ((event.clientY - box.top) * pad.height) / box.height];
  }
  function stroke(from, to) {                                 // white ink on black, like MNIST and the notebook's pad
    padContext.beginPath();
    if (from[0] === to[0] && from[1] === to[1]) {
      padContext.fillStyle = "white";
      padContext.arc(from[0], from[1], LINE_WIDTH / 2, 0, 2 * Math.PI);
      padContext.fill();
      return;
    }
    Object.assign(padContext, { strokeStyle: "white", lineWidth: LINE_WIDTH, lineCap: "round", lineJoin: "round" });
    padContext.moveTo(from[0], from[1]);
    padContext.lineTo(to[0], to[1]);
    padContext.stroke();
  }
  function liveRead() {                                       // while drawing: at most once per frame, not announced
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; readPad(false); });
  }
  function startStroke(point) { drawing = true; last = point; stroke(point, point); liveRead(); }
  function moveStroke(point) { if (!drawing) return; stroke(last, point); last = point; liveRead(); }
  function endStroke() {
    if (!drawing) return;
    drawing = false;
    padState.png = pad.toDataURL("image/png");
    readPad(true);
  }
  if (window.PointerEvent) {                                  // mouse, pen and touch alike
    pad.addEventListener("pointerdown", (event) => {
      try { pad.setPointerCapture(event.pointerId); } catch (error) { /* a pointer the browser no longer tracks */ }
      startStroke(padPoint(event));
    });
    pad.addEventListener("pointermove", (event) => moveStroke(padPoint(event)));
    pad.addEventListener("pointerup", endStroke);
    pad.addEventListener("pointercancel", endStroke);
  } else {                                                    // older tablets: touch events
    pad.addEventListener("touchstart", (event) => { event.preventDefault(); startStroke(padPoint(event.touches[0])); });
    pad.addEventListener("touchmove", (event) => { event.preventDefault(); moveStroke(padPoint(event.touches[0])); });
    pad.addEventListener("touchend", endStroke);
    pad.addEventListener("mousedown", (event) => startStroke(padPoint(event)));
    pad.addEventListener("mousemove", (event) => moveStroke(padPoint(event)));
    window.addEventListener("mouseup", endStroke);
  }
  $("pad-clear").addEventListener("click", () => { blankPad(); padState.png = null; readPad(true); });

  // The keyboard's way to the pad: copy the slider's test digit onto it (then draw over it).
  function copyDigitToPad(n) {
    const picture = { height: 28, width: 28, data: digitPixels(n) };
    const small = element("canvas");
    paintGrey(small, picture, 1);
    blankPad();
    padContext.imageSmoothingEnabled = false;
    padContext.drawImage(small, 0, 0, pad.width, pad.height);
    padState.png = pad.toDataURL("image/png");
    readPad(true);
  }

  // -- the test digits --
  const slider = $("digit-slider"), onlyMistakes = $("only-mistakes");
  const digitBars = probabilityBars($("digit-bars"));
  const everyDigit = DIGITS.indices.map((index, n) => n);
  let shown = everyDigit;                                    // the sample positions the slider walks
  $("sample-size").textContent = `${DIGITS.indices.length.toLocaleString("en")}`;
  $("mistake-count").textContent = "(counting\u2026)";
  onlyMistakes.disabled = true;

  function showDigit(position) {
    const n = shown[position], result = forward(digitPixels(n));
    const s = { index: DIGITS.indices[n], label: DIGITS.labels[n] };
    slider.value = String(position);
    slider.setAttribute("aria-valuetext", `digit ${position + 1} of ${shown.length}`);
    $("digit-counter").textContent = `${position + 1} of ${shown.length}${onlyMistakes.checked ? " mistakes" : ""}`;
    paintGrey($("digit-picture"), { height: 28, width: 28, data: digitPixels(n) }, 1);
    $("digit-picture").setAttribute("aria-label", `MNIST test image number ${s.index}, labelled ${s.label}`);
    const right = result.prediction === s.label;
    $("digit-prediction").textContent = `MNIST test image #${s.index} is a ${s.label}. The network says ` +
      `${result.prediction}, ${formatPercent(result.probabilities[result.prediction])} sure: ${right ? "right" : "wrong"}.`;
    $("digit-prediction").className = right ? "verdict right" : "verdict wrong";
    digitBars(result.probabilities, result.prediction, s.label);
    showAllMaps(["maps-1", "maps-2"], result.featureMaps);
    $("previous-digit").disabled = position === 0;
    $("next-digit").disabled = position === shown.length - 1;
    DEMO.shownDigit = { position, sampleIndex: n, testIndex: s.index, probabilities: result.probabilities, featureMaps: result.featureMaps };
  }
  function setList() {
    shown = onlyMistakes.checked ? mistakes : everyDigit;
    slider.max = String(shown.length - 1);
    showDigit(0);
  }
  slider.addEventListener("input", () => showDigit(Number(slider.value)));
  $("previous-digit").addEventListener("click", () => showDigit(Math.max(0, Number(slider.value) - 1)));
  $("next-digit").addEventListener("click", () => showDigit(Math.min(shown.length - 1, Number(slider.value) + 1)));
  onlyMistakes.addEventListener("change", setList);
  $("digit-to-pad").addEventListener("click", () => {
    copyDigitToPad(shown[Number(slider.value)]);
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    $("pad").scrollIntoView({ behavior: still ? "auto" : "smooth", block: "center" });
    $("pad-clear").focus({ preventScroll: true });
  });

  // For the tests (and the curious, in the browser's console): the same functions the page uses.
  const DEMO = {
    forward, preprocessDigit, toGrey, formatPercent, float32FromBase64, sample, pad: padState,
    padPng: () => pad.toDataURL("image/png"),
  };
  window.scratchcnnDemo = DEMO;
  blankPad();
  readPad(true);
  showFilters($("filters-1"));
  setList();
  readAllDigits(() => {
    $("mistake-count").textContent = `${mistakes.length}`;
    onlyMistakes.disabled = mistakes.length === 0;
    document.body.classList.add("ready");                    // the tests wait for this
  });
})();
