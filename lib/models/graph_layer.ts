/**
 * A TF.js *graph* model (the tfjs-converter format TF Hub and Kaggle Models
 * serve) turned into a trainable Keras layer.
 *
 * Stock TF.js can only run a GraphModel: its weights are constants, so
 * nothing can be fine-tuned. {@link GraphLayer} re-executes the graph's
 * nodes with ordinary differentiable tf ops, with every float constant held
 * as a layer weight, so the loop's `variableGrads` reaches the weights that
 * are marked trainable. Batch norm in converted graphs is already folded
 * into the convolutions' weights and biases, i.e. it runs in inference mode
 * by construction.
 *
 * Supported ops are those of the MobileNet/ResNet/EfficientNet-style image
 * graphs the converter emits; any other op is a clear {@link GraphLayerError}
 * naming the node.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../errors.ts";

/** One error class for this module. */
export class GraphLayerError extends UserError {}

/** A node of a graph-model topology (TensorFlow `NodeDef` as JSON). */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

interface AttrValue {
  i?: string | number;
  f?: number;
  b?: boolean;
  s?: string;
  type?: string;
  list?: { i?: (string | number)[]; s?: string[]; f?: number[] };
  tensor?: { dtype?: string; tensorShape?: { dim?: { size: string }[] }; floatVal?: number[]; intVal?: number[] };
}

/** Config of {@link GraphLayer} (what `getConfig` saves). */
export interface GraphLayerArgs {
  /** The graph's nodes. */
  nodes: GraphNode[];
  /** Whether the layer trains at all (Keras' layer flag; weights also need to be listed). */
  trainable?: boolean;
  /** Node whose value the layer outputs (default: the classifier's input, see {@link featureNode}). */
  outputNode?: string;
  /** Names of the float constants that are trainable (default: none). */
  trainableWeights?: string[];
  /** Shapes of the float constants (saved, so a reloaded layer can build before its weights arrive). */
  weightShapes?: Record<string, number[]>;
  /** Integer constants (axes, shapes, paddings), which are not weights. */
  intConsts?: Record<string, { shape: number[]; values: number[] }>;
  name?: string;
}

/** A constant input (shape, axes, paddings) read as plain numbers. */
type Consts = Map<string, { shape: number[]; values: number[]; dtype: string }>;

const decode = (s?: string) => (s === undefined ? "" : atob(s));
const ints = (a?: AttrValue) => (a?.list?.i ?? []).map(Number);
const strs = (a?: AttrValue) => (a?.list?.s ?? []).map(decode);

/** Splits "name:1" / "^name" into the producing node and its output index. */
function parseInput(ref: string): { node: string; index: number; control: boolean } {
  if (ref.startsWith("^")) return { node: ref.slice(1), index: 0, control: true };
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1], index: Number(m[2]), control: false } : { node: ref, index: 0, control: false };
}

/**
 * The node whose output is the network's feature vector: the first input of
 * the last dense (MatMul) node, or the graph's last node when it has no
 * classifier (a TF Hub feature-vector model).
 */
export function featureNode(nodes: GraphNode[]): string {
  const dense = nodes.filter((n) => n.op === "MatMul" || n.op === "_FusedMatMul").at(-1);
  if (dense?.input?.length) {
    // walk back over a Reshape/Squeeze that only flattens
    return parseInput(dense.input[0]).node;
  }
  const last = nodes.filter((n) => n.op !== "Identity" && n.op !== "Const").at(-1);
  if (!last) throw new GraphLayerError("graph has no computing node");
  return last.name;
}

/** Nodes needed to compute `output`, in an order where inputs come first. */
function schedule(nodes: GraphNode[], output: string): GraphNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  if (!byName.has(output)) throw new GraphLayerError(`graph has no node "${output}"`);
  const order: GraphNode[] = [];
  const state = new Map<string, 1 | 2>();
  const stack: [GraphNode, boolean][] = [[byName.get(output)!, false]];
  while (stack.length) {
    const [n, expanded] = stack.pop()!;
    if (expanded) {
      state.set(n.name, 2);
      order.push(n);
      continue;
    }
    if (state.has(n.name)) continue;
    state.set(n.name, 1);
    stack.push([n, true]);
    for (const ref of n.input ?? []) {
      const { node, control } = parseInput(ref);
      if (control) continue;
      const dep = byName.get(node);
      if (!dep) throw new GraphLayerError(`node "${n.name}" reads "${node}", which the graph does not have`);
      if (!state.has(node)) stack.push([dep, false]);
    }
  }
  return order;
}

function padding(
  n: GraphNode,
): "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]] {
  const p = decode(n.attr?.padding?.s);
  if (p === "SAME") return "same";
  if (p === "VALID") return "valid";
  if (p === "EXPLICIT") {
    const e = ints(n.attr?.explicit_paddings);
    return [[e[0], e[1]], [e[2], e[3]], [e[4], e[5]], [e[6], e[7]]];
  }
  throw new GraphLayerError(`node "${n.name}" (${n.op}) has unsupported padding "${p}"`);
}

function checkNhwc(n: GraphNode) {
  const f = decode(n.attr?.data_format?.s);
  if (f && f !== "NHWC") {
    throw new GraphLayerError(`node "${n.name}" (${n.op}) uses data format ${f}; only NHWC is supported`);
  }
}

type Activation = "linear" | "relu" | "relu6" | "elu" | "sigmoid" | "leakyrelu";

/** The BiasAdd + activation a fused node asks for. */
function fusedOps(n: GraphNode): { bias: boolean; activation: Activation; alpha?: number } {
  const ops = strs(n.attr?.fused_ops);
  const acts: Record<string, Activation> = {
    Relu: "relu",
    Relu6: "relu6",
    Elu: "elu",
    Sigmoid: "sigmoid",
    LeakyRelu: "leakyrelu",
  };
  let bias = false, activation: Activation = "linear";
  for (const op of ops) {
    if (op === "BiasAdd") bias = true;
    else if (acts[op]) activation = acts[op];
    else throw new GraphLayerError(`node "${n.name}" (${n.op}) fuses unsupported op ${op}`);
  }
  return { bias, activation, alpha: n.attr?.leakyrelu_alpha?.f };
}

/** The value of one node, from its inputs' values. */
function runNode(
  n: GraphNode,
  get: (ref: string) => tf.Tensor,
  constOf: (n: GraphNode, i: number) => number[],
  input: tf.Tensor,
  value: (name: string) => tf.Tensor,
  consts: Consts,
): tf.Tensor {
  const ins = (n.input ?? []).filter((r) => !r.startsWith("^"));
  const x = () => get(ins[0]);
  const s2 = (key: string) => {
    const v = ints(n.attr?.[key]);
    return v.length === 4 ? [v[1], v[2]] as [number, number] : [1, 1] as [number, number];
  };
  /** Arguments of a (depthwise) conv node; a plain one has no fused bias or activation. */
  const convArgs = (plain: boolean) => {
    checkNhwc(n);
    const f = plain ? { bias: false, activation: "linear" as Activation, alpha: undefined } : fusedOps(n);
    return {
      x: x() as tf.Tensor4D,
      filter: get(ins[1]) as tf.Tensor4D,
      strides: s2("strides"),
      pad: padding(n) as "same",
      dilations: s2("dilations"),
      bias: f.bias ? get(ins[2]) : undefined,
      activation: f.activation,
      leakyreluAlpha: f.alpha,
    };
  };
  switch (n.op) {
    case "Placeholder":
      return input;
    case "Const":
      return consts.has(n.name) ? tf.tensor(consts.get(n.name)!.values, consts.get(n.name)!.shape) : value(n.name);
    case "Identity":
    case "StopGradient":
      return x();
    case "Add":
    case "AddV2":
    case "BiasAdd":
      return tf.add(x(), get(ins[1]));
    case "Sub":
      return tf.sub(x(), get(ins[1]));
    case "Mul":
      return tf.mul(x(), get(ins[1]));
    case "RealDiv":
      return tf.div(x(), get(ins[1]));
    case "Maximum":
      return tf.maximum(x(), get(ins[1]));
    case "Minimum":
      return tf.minimum(x(), get(ins[1]));
    case "Relu":
      return tf.relu(x());
    case "Relu6":
      return tf.relu6(x());
    case "Sigmoid":
      return tf.sigmoid(x());
    case "Softmax":
      return tf.softmax(x());
    case "Conv2D":
    case "_FusedConv2D":
      // tf.fused fuses bias and activation when no gradient is being taped, and
      // falls back to separate (differentiable) ops when one is
      return tf.fused.conv2d(convArgs(n.op === "Conv2D"));
    case "DepthwiseConv2dNative":
    case "FusedDepthwiseConv2dNative":
      return tf.fused.depthwiseConv2d(convArgs(n.op === "DepthwiseConv2dNative"));
    case "FusedBatchNorm":
    case "FusedBatchNormV3": {
      const eps = n.attr?.epsilon?.f ?? 1e-3;
      return tf.batchNorm(x(), get(ins[3]), get(ins[4]), get(ins[2]), get(ins[1]), eps);
    }
    case "AvgPool":
    case "MaxPool": {
      checkNhwc(n);
      const pool = n.op === "AvgPool" ? tf.avgPool : tf.maxPool;
      return pool(x() as tf.Tensor4D, s2("ksize"), s2("strides"), padding(n) as "same");
    }
    case "Mean":
      return tf.mean(x(), constOf(n, 1), n.attr?.keep_dims?.b ?? false);
    case "Squeeze": {
      const dims = ints(n.attr?.squeeze_dims);
      return tf.squeeze(x(), dims.length ? dims : undefined);
    }
    case "Reshape":
      return tf.reshape(x(), constOf(n, 1));
    case "Pad":
    case "PadV2": {
      const p = constOf(n, 1);
      const pairs: [number, number][] = [];
      for (let i = 0; i < p.length; i += 2) pairs.push([p[i], p[i + 1]]);
      return tf.pad(x(), pairs, n.op === "PadV2" ? constOf(n, 2)[0] : 0);
    }
    case "ConcatV2": {
      const axis = constOf(n, ins.length - 1)[0];
      return tf.concat(ins.slice(0, -1).map(get), axis);
    }
    case "MatMul":
    case "_FusedMatMul": {
      const f = n.op === "MatMul" ? { bias: false, activation: "linear" as Activation } : fusedOps(n);
      return tf.fused.matMul({
        a: x() as tf.Tensor2D,
        b: get(ins[1]) as tf.Tensor2D,
        transposeA: n.attr?.transpose_a?.b ?? false,
        transposeB: n.attr?.transpose_b?.b ?? false,
        bias: f.bias ? get(ins[2]) : undefined,
        activation: f.activation,
        leakyreluAlpha: (f as { alpha?: number }).alpha,
      });
    }
    default:
      throw new GraphLayerError(`node "${n.name}": op ${n.op} is not supported by the graph-to-trainable conversion`);
  }
}

/**
 * Runs `fn` with gradient taping off: the frozen part of a backbone then
 * uses fused kernels and its activations are not kept for a backward pass
 * that would never reach a trainable weight.
 */
function withoutTape<T>(fn: () => T): T {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  const depth = state.gradientDepth;
  state.gradientDepth = 0;
  try {
    return fn();
  } finally {
    state.gradientDepth = depth;
  }
}

/**
 * Runs the scheduled nodes. `value(name)` gives a float constant's tensor,
 * `consts` the integer ones. Pure tf ops throughout, so gradients flow.
 */
/** 2 × multiply-adds of one node for one example (0 for the cheap element-wise ops). */
function nodeFlops(n: GraphNode, ins: tf.Tensor[], out: tf.Tensor): number {
  const perExample = out.size / out.shape[0];
  switch (n.op) {
    case "Conv2D":
    case "_FusedConv2D": {
      const [kh, kw, cin] = ins[1].shape; // filter [kh, kw, in, out]
      return 2 * perExample * kh * kw * cin;
    }
    case "DepthwiseConv2dNative":
    case "FusedDepthwiseConv2dNative": {
      const [kh, kw] = ins[1].shape;
      return 2 * perExample * kh * kw;
    }
    case "MatMul":
    case "_FusedMatMul":
      return 2 * perExample * ins[0].shape.at(-1)!;
    default:
      return 0;
  }
}

function execute(
  order: GraphNode[],
  input: tf.Tensor,
  value: (name: string) => tf.Tensor,
  consts: Consts,
  frozen: Set<string> = new Set(),
  observe?: (n: GraphNode, ins: tf.Tensor[], out: tf.Tensor) => void,
): tf.Tensor {
  const out = new Map<string, tf.Tensor[]>();
  // Consumers left per node, so frozen intermediates are freed as soon as they are used up.
  const left = new Map<string, number>();
  for (const n of order) {
    for (const ref of n.input ?? []) {
      if (!ref.startsWith("^")) left.set(parseInput(ref).node, (left.get(parseInput(ref).node) ?? 0) + 1);
    }
  }
  // Frozen nodes read only by frozen nodes: a taped consumer keeps its inputs for the backward pass.
  const disposable = new Set(
    order.filter((n) => frozen.has(n.name) && n.op !== "Const" && n.op !== "Placeholder").map((n) => n.name),
  );
  for (const n of order) {
    if (frozen.has(n.name)) continue;
    for (const ref of n.input ?? []) disposable.delete(parseInput(ref).node);
  }
  const owned = new Set<string>();
  const get = (ref: string): tf.Tensor => {
    const { node, index } = parseInput(ref);
    const v = out.get(node);
    if (!v) throw new GraphLayerError(`node "${node}" has no value (unsupported input?)`);
    return v[index];
  };
  const constOf = (n: GraphNode, i: number): number[] => {
    const { node } = parseInput(n.input![i]);
    const c = consts.get(node);
    if (!c) throw new GraphLayerError(`node "${n.name}" (${n.op}) needs input ${i} ("${node}") to be a constant`);
    return c.values;
  };
  for (const n of order) {
    const ins = (n.input ?? []).filter((r) => !r.startsWith("^"));
    const run = () => runNode(n, get, constOf, input, value, consts);
    const r = frozen.has(n.name) ? withoutTape(run) : run();
    observe?.(n, ins.map(get), r);
    out.set(n.name, [r]);
    if (disposable.has(n.name) && r !== input) owned.add(n.name);
    for (const ref of ins) {
      const src = parseInput(ref).node;
      const k = (left.get(src) ?? 0) - 1;
      left.set(src, k);
      if (k === 0 && owned.has(src) && out.get(src)![0] !== r) {
        out.get(src)![0].dispose();
        out.delete(src);
      }
    }
  }
  return out.get(order.at(-1)!.name)![0];
}

/**
 * A converted graph as one Keras layer: input `[b, h, w, 3]`, output the
 * value of `outputNode`. Float constants become weights named after their
 * nodes; those listed in `trainableWeights` train, the rest stay frozen.
 */
export class GraphLayer extends tf.layers.Layer {
  static className = "GraphLayer";
  readonly nodes: GraphNode[];
  readonly outputNode: string;
  private readonly trainableSet: Set<string>;
  private readonly order: GraphNode[];
  private readonly consts: Consts = new Map();
  private readonly floatNames: string[] = [];
  private readonly shapes = new Map<string, number[]>();
  private readonly weightOf = new Map<string, tf.LayerVariable>();
  /** Initial values handed to the constructor (used once, by build). */
  private initial: Map<string, tf.Tensor> | null;

  constructor(given: GraphLayerArgs & { values?: Map<string, tf.Tensor>; graph?: string }) {
    super({ name: given.name, trainable: given.trainable });
    const args: GraphLayerArgs & { values?: Map<string, tf.Tensor> } = given.graph
      ? { ...given, ...decodeGraph(given.graph) }
      : given;
    this.nodes = args.nodes;
    this.outputNode = args.outputNode ?? featureNode(args.nodes);
    this.trainableSet = new Set(args.trainableWeights ?? []);
    this.order = schedule(this.nodes, this.outputNode);
    this.initial = args.values ?? null;
    const placeholders = this.order.filter((n) => n.op === "Placeholder");
    if (placeholders.length !== 1) {
      throw new GraphLayerError(`the graph must have exactly one input, found ${placeholders.length}`);
    }
    for (const n of this.order) {
      if (n.op !== "Const") continue;
      const v = this.initial?.get(n.name);
      const saved = args.intConsts?.[n.name];
      const dtype = v?.dtype ?? n.attr?.dtype?.type ?? "DT_FLOAT";
      if (saved) this.consts.set(n.name, { ...saved, dtype: "int32" });
      else if (dtype === "int32" || dtype === "DT_INT32") {
        const t = n.attr?.value?.tensor;
        const values = v ? Array.from(v.dataSync()) : (t?.intVal ?? []).map(Number);
        const shape = v ? v.shape : (t?.tensorShape?.dim ?? []).map((d) => Number(d.size));
        this.consts.set(n.name, { shape, values, dtype: "int32" });
      } else {
        this.floatNames.push(n.name);
        const shape = v?.shape ?? args.weightShapes?.[n.name];
        if (!shape) {
          throw new GraphLayerError(`no value or shape for constant "${n.name}" (missing from the weights manifest?)`);
        }
        this.shapes.set(n.name, shape);
      }
    }
  }

  /** Nodes whose value depends on no trainable weight (run without the gradient tape). */
  private frozenNodes(): Set<string> {
    const frozen = new Set<string>();
    for (const n of this.order) {
      if (n.op === "Const" && this.trainableSet.has(n.name)) continue;
      const ins = (n.input ?? []).filter((r) => !r.startsWith("^")).map((r) => parseInput(r).node);
      if (ins.every((i) => frozen.has(i))) frozen.add(n.name);
    }
    return frozen;
  }

  /** Names of the graph's float constants, i.e. of this layer's weights. */
  get weightNames(): string[] {
    return [...this.floatNames];
  }

  override build(): void {
    for (const name of this.floatNames) {
      const v = this.initial?.get(name);
      const shape = this.shapes.get(name)!;
      const w = this.addWeight(name, shape, "float32", tf.initializers.zeros(), undefined, this.trainableSet.has(name));
      // without a value (a saved model being reloaded) the weights arrive after build
      if (v) w.write(v.dtype === "float32" ? v : tf.cast(v, "float32"));
      this.weightOf.set(name, w);
    }
    if (this.initial) tf.dispose([...this.initial.values()]);
    this.initial = null;
    this.built = true;
  }

  /** Which constants train; the others are frozen. */
  setTrainable(names: Iterable<string>): void {
    const set = new Set(names);
    for (const [name, w] of this.weightOf) w.trainable = set.has(name);
    this.trainableSet.clear();
    for (const n of set) this.trainableSet.add(n);
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    // The graph carries no shape inference we can trust, so run it once on one zero image.
    const probe = tf.zeros([1, ...inputShape.slice(1).map((d) => d ?? 1)] as number[]);
    const y = tf.tidy(() => execute(this.order, probe, (name) => this.weightOf.get(name)!.read(), this.consts));
    const shape = y.shape;
    tf.dispose([probe, y]);
    return [inputShape[0], ...shape.slice(1)];
  }

  /**
   * Forward FLOPs of one example of shape `inputDims` (height, width,
   * channels): 2 × the multiply-adds of the graph's convolutions and matrix
   * products, counted from the shapes of one run on a zero image.
   */
  flopsPerExample(inputDims: number[]): number {
    let flops = 0;
    const probe = tf.zeros([1, ...inputDims]);
    const y = tf.tidy(() =>
      execute(this.order, probe, (name) => this.weightOf.get(name)!.read(), this.consts, undefined, (n, ins, out) => {
        flops += nodeFlops(n, ins, out);
      })
    );
    tf.dispose([probe, y]);
    return flops;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const frozen = this.trainable ? this.frozenNodes() : new Set(this.order.map((n) => n.name));
    return execute(this.order, x, (name) => this.weightOf.get(name)!.read(), this.consts, frozen);
  }

  override getConfig(): tf.serialization.ConfigDict {
    // One opaque string: Keras config (de)serialisation rewrites keys and
    // strings between camelCase and snake_case ("block_1" → "block1").
    return {
      ...super.getConfig(),
      graph: encodeGraph({
        nodes: this.nodes,
        outputNode: this.outputNode,
        trainableWeights: [...this.trainableSet],
        weightShapes: Object.fromEntries(this.shapes),
        intConsts: Object.fromEntries([...this.consts].map(([k, c]) => [k, { shape: c.shape, values: c.values }])),
      }),
    };
  }
}

// Lower-case hex: the only string form the Keras config conversions leave alone.
function encodeGraph(g: GraphLayerArgs): string {
  return Array.from(new TextEncoder().encode(JSON.stringify(g)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function decodeGraph(s: string): GraphLayerArgs {
  const bytes = new Uint8Array(s.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return JSON.parse(new TextDecoder().decode(bytes));
}
tf.serialization.registerClass(GraphLayer);

/**
 * Builds a {@link GraphLayer} from graph-model artifacts (what a `model.json`
 * plus its weight shards decode to).
 *
 * @example
 * ```ts
 * const layer = graphLayerFromArtifacts(artifacts, { trainable: (name) => name.includes("block_16") });
 * const features = layer.apply(tf.zeros([1, 224, 224, 3])) as tf.Tensor;
 * ```
 */
export function graphLayerFromArtifacts(
  artifacts: tf.io.ModelArtifacts,
  opts: { outputNode?: string; trainable?: (name: string) => boolean; name?: string } = {},
): GraphLayer {
  const topology = artifacts.modelTopology as { node?: GraphNode[] } | undefined;
  if (!topology?.node) throw new GraphLayerError("artifacts are not a graph model (no node list)");
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData ?? new ArrayBuffer(0);
  const values = new Map(Object.entries(tf.io.decodeWeights(data, specs)));
  const names = topology.node.filter((n) => n.op === "Const").map((n) => n.name);
  const layer = new GraphLayer({
    nodes: topology.node,
    outputNode: opts.outputNode,
    trainableWeights: names.filter((n) => opts.trainable?.(n) ?? false),
    name: opts.name,
    values,
  });
  return layer;
}
