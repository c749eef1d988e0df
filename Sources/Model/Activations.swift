import Kernels

// Shapes: N packed tokens, B sentences, T longest sentence, G = B * NH, C hidden, F intermediate.

/// What a forward pass keeps for the backward pass, in buffers reused across batches.
final class Activations {
    final class Layer {
        let qkv = Buffer()       // (N, 3C)
        let probs = Buffer()     // (G, T, T)
        let dropMask = Buffer(), dropped = Buffer()   // (G, T, T), only with attention dropout
        let context = Buffer()   // (N, C) attention output before out_lin
        let residual1 = Buffer() // (N, C) out_lin(context) + input
        let hidden1 = Buffer()   // (N, C) sa_layer_norm output
        let mean1 = Buffer(), rstd1 = Buffer()        // (N)
        let ffn1 = Buffer()      // (N, F) lin1 output, before GELU
        let gelu = Buffer()      // (N, F)
        let ffnMask = Buffer()   // (N, C) dropout after lin2
        let residual2 = Buffer() // (N, C) lin2 output (after dropout) + hidden1
        let output = Buffer()    // (N, C) output_layer_norm output: the next layer's input
        let mean2 = Buffer(), rstd2 = Buffer()        // (N)
        // Only when the last layer runs on first tokens (`firstTokensOnly`); then qkv holds k | v
        // (N, 2C), probs/dropMask/dropped are (G, 1, T), and every (N, *) buffer from
        // context on holds B rows instead of N.
        let firstInput = Buffer()  // (B, C) the layer's input at each first token
        let firstQuery = Buffer()  // (B, C) q_lin of it
    }

    let embeddingSum = Buffer()  // (N, C) word + position
    let embeddingMean = Buffer(), embeddingRstd = Buffer()  // (N)
    let embeddingMask = Buffer() // (N, C)
    let embedded = Buffer()      // (N, C) LayerNorm + dropout: layer 0's input
    let layers: [Layer]
    let pooled = Buffer()        // (B, C) each sentence's first token
    let preHead = Buffer()       // (B, C) pre_classifier output
    let headActivated = Buffer() // (B, C) after ReLU / tanh, then dropout in place
    let headMask = Buffer()      // (B, C)
    let logits = Buffer()        // (B, K)

    // Backward scratch, shared by all layers.
    let dStream = Buffer()      // (N, C) gradient flowing down the layer stack
    let dHidden = Buffer(), dResidual = Buffer(), dContext = Buffer()  // (N, C)
    let dQKV = Buffer()          // (N, 3C)
    let attentionScratch = Buffer() // see AttentionSaved.scratchCount
    let dGELU = Buffer(), dFFN = Buffer()  // (N, F) gradient of the GELU output, then of its input
    let dHead = Buffer(), dPre = Buffer(), dPooled = Buffer()  // (B, C)

    /// The batch the buffers currently describe, and whether dropout ran.
    var batch: TokenBatch?
    var dropout = false
    /// Whether the last layer ran on first tokens only (its output is (B, C), not (N, C)).
    var firstTokensOnly = false

    init(config: ModelConfig) {
        layers = (0..<config.layerCount).map { _ in Layer() }
    }

    /// The input of layer `l` (the embeddings for l = 0).
    func input(ofLayer l: Int) -> UnsafeMutablePointer<Float> {
        l == 0 ? embedded.p : layers[l - 1].output.p
    }
}
