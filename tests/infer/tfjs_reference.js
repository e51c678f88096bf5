// Runs a TensorFlow.js graph model with TF.js itself (pure-JS CPU backend), for the importer's
// parity test on inputs the stored references do not cover.
//   node tfjs_reference.js MODEL.json INPUT.rgb24 WIDTH HEIGHT OUT_PREFIX NODE...
// INPUT: packed RGB bytes, fed as float32 0..255 NHWC [1, H, W, 3]. Writes OUT_PREFIX.<i>.f32 (float32
// little-endian, NHWC as TF.js returns it) for each NODE. Needs @tensorflow/tfjs on NODE_PATH.
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');

(async () => {
  const [json, input, w, h, out, ...names] = process.argv.slice(2);
  const model = JSON.parse(fs.readFileSync(json, 'utf8'));
  const dir = path.dirname(json);
  const weightSpecs = model.weightsManifest.flatMap((g) => g.weights);
  const data = Buffer.concat(model.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  await tf.setBackend('cpu');
  const m = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: model.modelTopology, weightSpecs, weightData, format: model.format,
    generatedBy: model.generatedBy, convertedBy: model.convertedBy, signature: model.signature,
  }));
  const raw = fs.readFileSync(input);
  const x = tf.tensor(Float32Array.from(raw), [1, Number(h), Number(w), 3], 'float32');
  let outs = m.execute(x, names);
  if (!Array.isArray(outs)) outs = [outs];
  for (let i = 0; i < names.length; i++) {
    const v = await outs[i].data();
    fs.writeFileSync(`${out}.${i}.f32`, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  }
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
