/**
 * The peers bench (`deno task bench:peers`): the peers' labels land in
 * FER2013's order, Human's preprocessing turns a known image into the values
 * its emotion step computes, each model's probabilities are distributions in
 * FER2013's order, and a small run over synthetic faces records every field
 * the report needs. Tests that need a peer's weights skip, with a message,
 * where node_modules lacks them.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { EMOTIONS } from "../lib/data/fer2013.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { machineFacts } from "../lib/machine.ts";
import {
  type Classifier,
  FACE_API_LABELS,
  ferOrder,
  HUMAN_CROP_SIDE,
  HUMAN_LABELS,
  humanFaceTensor,
  humanModelInput,
  LabelError,
  loadFaceApiExpression,
  loadHumanEmotion,
  loadOurs,
  peerMissing,
  type PeerName,
  PEERS,
  toFerOrder,
} from "../lib/peers/models.ts";
import { facesTensor, viewProbabilities } from "../lib/peers/measure.ts";
import { peersReport } from "../lib/peers/report.ts";
import { runPeers } from "../lib/peers/run.ts";
import { ttaViews } from "../lib/eval/tta.ts";

tf.enableProdMode();
await tf.setBackend("cpu");

const OURS = new URL("../reports/models/05_budget", import.meta.url).pathname;
const missing = Object.fromEntries(
  await Promise.all(PEERS.map(async (p) => [p, await peerMissing(p)] as const)),
) as Record<PeerName, string | null>;
for (const p of PEERS) if (missing[p]) console.warn(`peers tests for ${p} skipped: ${missing[p]}`);
const installed = PEERS.filter((p) => !missing[p]);

/** A left half black, right half white 48×48 face; values 0–255. */
function halves(): Uint8Array {
  const img = new Uint8Array(48 * 48);
  for (let y = 0; y < 48; y++) img.fill(255, y * 48 + 24, y * 48 + 48);
  return img;
}

Deno.test("the peers' labels map to FER2013's order", () => {
  // face-api: neutral, happy, sad, angry, fearful, disgusted, surprised
  assert.deepEqual(ferOrder(FACE_API_LABELS), [3, 5, 4, 1, 2, 6, 0]);
  assert.deepEqual(ferOrder(HUMAN_LABELS), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(ferOrder(EMOTIONS), [0, 1, 2, 3, 4, 5, 6]);
});

Deno.test("a label list without FER2013's seven emotions once each is refused", () => {
  assert.throws(() => ferOrder(["neutral", "happy", "sad", "angry", "fearful", "disgusted"]), LabelError);
  assert.throws(
    () => ferOrder(["neutral", "happy", "sad", "angry", "fearful", "disgusted", "contempt"]),
    /contempt|surprise/,
  );
  assert.throws(() => ferOrder(["fear", "fearful", "happy", "sad", "angry", "disgust", "surprise"]), LabelError);
});

Deno.test("toFerOrder moves each of face-api's columns to its FER2013 class", async () => {
  // One face per face-api output, certain of it: FER2013's order must put each 1 under the same emotion.
  const probs = tf.eye(7) as tf.Tensor2D;
  const fer = await toFerOrder(probs, ferOrder(FACE_API_LABELS)).array();
  const canonical: Record<string, string> = { fearful: "fear", disgusted: "disgust", surprised: "surprise" };
  FACE_API_LABELS.forEach((label, i) => {
    const hot = fer[i].indexOf(1);
    assert.equal(EMOTIONS[hot], canonical[label] ?? label, `face-api's ${label}`);
  });
  assert.ok(probs.isDisposed);
});

Deno.test("Human's preprocessing of a known image: [0, 1] face tensor at 192, then 64×64 in [-1, 1]", async () => {
  const faces = facesTensor(halves(), 48);
  const cut = humanFaceTensor(faces);
  assert.deepEqual(cut.shape, [1, HUMAN_CROP_SIDE, HUMAN_CROP_SIDE, 1]);
  const c = await cut.data();
  const at = (y: number, x: number) => c[y * HUMAN_CROP_SIDE + x];
  assert.equal(at(0, 0), 0);
  assert.equal(at(100, HUMAN_CROP_SIDE - 1), 1);
  assert.ok(at(50, 95) > 0 && at(50, 96) < 1, "the edge blends, as bilinear sampling does");
  const x = humanModelInput(cut, 64);
  assert.deepEqual(x.shape, [1, 64, 64, 1]);
  const v = await x.data();
  // Black → -1; white → (0.9999 − 0.5) × 2, Human's luma weights summing to 0.9999.
  assert.ok(Math.abs(v[10 * 64 + 0] + 1) < 1e-6, `black: ${v[10 * 64]}`);
  assert.ok(Math.abs(v[10 * 64 + 63] - 0.9998) < 1e-4, `white: ${v[10 * 64 + 63]}`);
  const mid = facesTensor(new Uint8Array(48 * 48).fill(128), 48);
  const m = await humanModelInput(humanFaceTensor(mid), 64).data();
  assert.ok(Math.abs(m[2000] - ((128 / 255) * 0.9999 - 0.5) * 2) < 1e-5);
  tf.dispose([faces, cut, x, mid]);
});

Deno.test({
  name: "face-api.js: its weights load from node_modules; probabilities in FER2013's order sum to 1",
  ignore: missing["face-api"] !== null,
  sanitizeResources: false,
  fn: async () => {
    const peer = await loadFaceApiExpression();
    try {
      assert.equal(peer.params, 323_687);
      assert.equal(peer.weightBytes, 329_468);
      const faces = facesTensor(halves(), 48);
      const crops = peer.cut(faces);
      assert.deepEqual(crops.shape, [1, 48, 48, 3], "the gray face in all three channels");
      const [r, g, b] = tf.split(crops, 3, 3).map((t) => t.dataSync());
      assert.deepEqual([...r], [...g]);
      assert.deepEqual([...g], [...b]);
      assert.equal(Math.max(...r), 255);
      await checkDistributions(peer);
      tf.dispose([faces, crops]);
    } finally {
      peer.dispose();
    }
  },
});

Deno.test({
  name: "Human: its weights load from node_modules; probabilities in FER2013's order sum to 1",
  ignore: missing.human !== null,
  sanitizeResources: false,
  fn: async () => {
    const peer = await loadHumanEmotion();
    try {
      assert.equal(peer.params, 205_127);
      assert.equal(peer.weightBytes, 820_516);
      await checkDistributions(peer);
    } finally {
      peer.dispose();
    }
  },
});

Deno.test("ferlab's saved model through the same interface gives its own probabilities", async () => {
  const ours = await loadOurs(OURS);
  try {
    assert.equal(ours.kind, "ours");
    assert.equal(ours.params, 1_176_359);
    await checkDistributions(ours);
  } finally {
    ours.dispose();
  }
});

/** Four synthetic faces and their mirrors: seven probabilities each, summing to 1. */
async function checkDistributions(c: Classifier): Promise<void> {
  const data = makeSyntheticFer2013({ n: 4, seed: 5 });
  for (const v of ttaViews("flip")) {
    const p = await viewProbabilities(c, data.pixels, v, 3);
    assert.equal(p.length, 4 * 7);
    for (let i = 0; i < 4; i++) {
      const row = p.subarray(i * 7, i * 7 + 7);
      assert.ok(row.every((x) => x >= 0 && x <= 1), `${c.name} ${v.name}: ${row}`);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4, `${c.name} ${v.name}: sums to 1`);
    }
  }
}

Deno.test({
  name: "a small run over synthetic faces records every model's scores, size and speed, and reports them",
  sanitizeResources: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "ferlab-peers-" });
    try {
      const data = makeSyntheticFer2013({ n: 120, seed: 9 });
      const record = await runPeers({
        data,
        dataFacts: { kind: "synthetic", source: data.source, fingerprint: fingerprint(data), synthetic: true },
        peers: installed,
        models: [OURS],
        modes: ["none", "flip", "crops"],
        batches: [1, 3],
        timing: { warmup: 1, minRuns: 2, minSeconds: 0, maxSeconds: 5 },
        limit: 5,
        evalBatch: 4,
        splitCacheDir: tmp,
        machine: machineFacts(),
        backend: { name: tf.getBackend(), description: tf.getBackend(), kernels: "cpu", notes: [] },
        command: "deno task bench:peers --limit 5",
        retimeCommand: "deno task bench:peers",
      });
      assert.equal(record.split.protocol, "official");
      assert.equal(record.split.seed, 42);
      assert.equal(record.split.testRows, 5);
      assert.ok(record.split.splitTestRows >= 5);
      assert.equal(record.data.synthetic, true);
      assert.equal(record.models.length, installed.length + 1);
      for (const m of record.models) {
        assert.deepEqual(m.accuracy.map((a) => a.tta), ["none", "flip", "crops"], m.name);
        for (const a of m.accuracy) {
          assert.equal(a.n, 5);
          assert.ok(a.accuracy >= 0 && a.accuracy <= 1);
          assert.ok(Number.isFinite(a.nll) && Number.isFinite(a.ece) && Number.isFinite(a.macroF1));
          assert.deepEqual(Object.keys(a.recall), [...EMOTIONS]);
          assert.equal(a.confusion.length, 7);
        }
        assert.deepEqual(a(m.accuracy[1].views), ["identity", "mirror"]);
        // Every model here takes whole 48×48 faces: ten shifted windows, each also mirrored.
        assert.equal(m.accuracy[2].views.length, 10);
        assert.ok(m.accuracy[2].views.includes("mirror+left2"), m.accuracy[2].views.join());
        assert.deepEqual(m.speed.map((s) => s.batch), [1, 3]);
        for (const s of m.speed) assert.ok(s.msPerFace > 0 && s.msPerFaceMin <= s.msPerFace && s.runs >= 2);
        assert.ok(m.params > 0 && m.weightBytes > 0 && m.weightFiles.length > 0);
        assert.ok(["yes", "no", "unknown"].includes(m.heldOut) && m.heldOutNote.length > 0);
      }
      const ours = record.models.find((m) => m.kind === "ours")!;
      assert.equal(ours.name, "05_budget");
      // 05 was trained on the dev file's split, not on these synthetic faces' split.
      assert.equal(ours.heldOut, "unknown");
      for (const peer of record.models.filter((m) => m.kind === "peer")) assert.equal(peer.heldOut, "unknown");

      const report = peersReport(record);
      assert.match(report.markdown, /training data is unknown, so "held-out" may not hold for them/);
      assert.match(report.markdown, /synthetic faces, not FER2013/);
      assert.match(report.markdown, /ms\/face, batch 3/);
      assert.deepEqual(JSON.parse(JSON.stringify(report.json)), JSON.parse(JSON.stringify(record)));
      assert.ok(report.charts.speed, "the accuracy-against-speed chart");

      // Busy means others' load: the bench's own threads while it times do not count, more than a quarter core does.
      const loaded = (start: number, timing: number) =>
        peersReport({
          ...record,
          machine: { ...record.machine, cores: 2, loadAverageStart: start },
          backend: { ...record.backend, threads: 2 },
          models: record.models.map((m) => ({ ...m, speed: m.speed.map((x) => ({ ...x, loadAverage: timing })) })),
        }).markdown;
      assert.doesNotMatch(loaded(0.1, 2.4), /busy machine/);
      assert.match(loaded(0.1, 2.6), /busy machine/);
      assert.match(loaded(0.6, 2.0), /busy machine/);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

/** A plain array, for deepEqual against a literal. */
const a = (xs: readonly string[]) => [...xs];
