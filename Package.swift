// swift-tools-version:6.0
import PackageDescription

// Layers, each importing only those below it (scripts/check_layers.py checks every import in
// Sources/ against this table; `make test` runs it):
//   C libraries: CDNNL (oneDNN), CZeroMQ (libzmq), CZlib (zlib), CKernels, CChecksum
//   Files      <- (atomic writes; nothing of ours)
//   Kernels    <- CDNNL, CKernels (GEMM, LayerNorm, attention, losses; forward and backward)
//   Collective <- CZeroMQ, CChecksum (sockets, wire protocol, ring all-reduce; knows no model)
//   Report     <- CZlib, Files (tables and charts from typed rows; knows no model)
//   Model      <- Kernels, Files (config, safetensors, the classifier, tokenizer, quantization)
//   Training   <- Model, Kernels, Collective, Files (data, optimizer, TrainingStep, the loop)
//   Evaluation <- Training, Model, Kernels, Report (metrics, evaluators, latency, variants)
//   Cluster    <- Training, Model, Kernels, Collective, Files (coordinator and workers)
//   Pipeline   <- Evaluation, Training, Model, Kernels, Report, Files (the run: configuration, stages, run folder)
//   edgedistill <- everything above (the CLI, one file per subcommand)
// Kernels are plain loops over pointers: -Ounchecked drops overflow traps so LLVM vectorizes them,
// and on x86-64 we target AVX2+FMA (Haswell and newer; every server and laptop of the last decade).
#if arch(x86_64)
let cpuFlags = ["-target-cpu", "haswell"]
#else
let cpuFlags: [String] = []
#endif
#if arch(x86_64)
let cKernelFlags = ["-mavx2", "-mfma"]
#else
let cKernelFlags: [String] = []
#endif
let optimize: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"] + cpuFlags, .when(configuration: .release))]

let package = Package(
    name: "EdgeDistill",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "edgedistill", targets: ["edgedistill"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL",
                       providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ",
                       providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Kernels", dependencies: ["CDNNL", "CKernels"], swiftSettings: optimize),
        // Hand-written kernels: the packed int8 GEMM (VNNI, AVX2, portable C) and AVX-512 element-wise ones,
        // chosen at run time (Kernels/ISA.swift); AVX-512 code is compiled through target attributes.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"] + cKernelFlags)]),
        .target(name: "CChecksum", path: "Sources/CChecksum", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Collective", dependencies: ["CZeroMQ", "CChecksum"], swiftSettings: optimize),
        .target(name: "Files"),
        .target(name: "Model", dependencies: ["Kernels", "Files"], swiftSettings: optimize),
        .target(name: "Training", dependencies: ["Files", "Model", "Kernels", "Collective"], swiftSettings: optimize),
        .target(name: "Evaluation", dependencies: ["Training", "Model", "Kernels", "Report"], swiftSettings: optimize),
        .target(name: "Pipeline", dependencies: ["Evaluation", "Training", "Model", "Kernels", "Report", "Files",
                                                 .product(name: "Yams", package: "Yams")], swiftSettings: optimize),
        .target(name: "Cluster", dependencies: ["Files", "Training", "Model", "Kernels", "Collective"], swiftSettings: optimize),
        .target(name: "Report", dependencies: ["CZlib", "Files"], swiftSettings: optimize),
        .executableTarget(name: "edgedistill", dependencies: [
            "Pipeline", "Cluster", "Evaluation", "Training", "Model", "Kernels", "Collective", "Report", "Files",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: optimize),
        // Helpers every test target may use (a seeded generator); not part of the product.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Training", "Kernels"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Evaluation", "Model", "Kernels", "Collective"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Training"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Training", "Model", "Kernels", "Report"]),
        .testTarget(name: "CollectiveTests", dependencies: ["Collective", "TestSupport"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Training", "Model", "Collective"]),
        .testTarget(name: "ReportTests", dependencies: ["Report"]),
        .testTarget(name: "FilesTests", dependencies: ["Files"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Model", "Collective", "Cluster", "edgedistill"]),
    ],
    swiftLanguageModes: [.v5]
)
