import Files
import Collective
import Foundation

/// A CURVE keypair as `edgedistill keygen` writes it.
///
/// `NAME.key` (mode 0600) holds both keys; `NAME.pub` only the public key, the file to hand to
/// the other side. Both are text, one `key = value` per line, `#` comments.
public struct CurveKeyPair: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String

    public static func generate() throws -> CurveKeyPair {
        guard Curve.hasCurve else { throw ClusterError("this libzmq was built without CURVE support (libsodium)") }
        let (publicKey, secretKey) = try Curve.keypair()
        return CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    /// Writes `PREFIX.key` and `PREFIX.pub`, refusing to overwrite either.
    public func write(prefix: String) throws {
        let fm = FileManager.default
        for path in [prefix + ".key", prefix + ".pub"] where fm.fileExists(atPath: path) {
            throw ClusterError("\(path) exists: refusing to overwrite a key (remove it first)")
        }
        let secret = "# EdgeDistill CURVE secret key: keep it private\npublic-key = \(publicKey)\nsecret-key = \(secretKey)\n"
        let open = "# EdgeDistill CURVE public key\npublic-key = \(publicKey)\n"
        try writeAtomically(secret, to: prefix + ".key", permissions: 0o600)
        try writeAtomically(open, to: prefix + ".pub", permissions: 0o644)
    }

    /// Reads a `.key` file (both keys; the public one is checked against the secret one).
    public static func load(_ path: String) throws -> CurveKeyPair {
        let fields = try keyFields(path)
        guard let secret = fields["secret-key"] else {
            throw ClusterError("\(path): no 'secret-key = ...' line (is this the .pub file? use the .key file)")
        }
        guard let derived = Curve.publicKey(secretKey: secret) else {
            throw ClusterError("\(path): the secret key is not 40 Z85 characters")
        }
        if let stated = fields["public-key"], stated != derived {
            throw ClusterError("\(path): the public key does not belong to the secret key")
        }
        return CurveKeyPair(publicKey: derived, secretKey: secret)
    }

    /// Reads the public key of a `.pub` (or `.key`) file.
    public static func loadPublic(_ path: String) throws -> String {
        let fields = try keyFields(path)
        guard let key = fields["public-key"] else { throw ClusterError("\(path): no 'public-key = ...' line") }
        guard Curve.decode(z85: key) != nil else { throw ClusterError("\(path): the public key is not 40 Z85 characters") }
        return key
    }

    /// The public keys in a folder of `.pub` files, or in one file (`public-key = ...` lines or bare keys).
    public static func loadAuthorized(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ClusterError("\(path): no such file or folder of authorized public keys")
        }
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            let keys = try names.filter { $0.hasSuffix(".pub") }.sorted()
                .map { try loadPublic((path as NSString).appendingPathComponent($0)) }
            guard !keys.isEmpty else { throw ClusterError("\(path): no .pub files in this folder") }
            return keys
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ClusterError("\(path): cannot read") }
        var keys: [String] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let key = line.hasPrefix("public-key") ? (line.split(separator: "=", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "") : line
            guard Curve.decode(z85: key) != nil else {
                throw ClusterError("\(path):\(number + 1): expected a 40-character Z85 public key, found '\(line)'")
            }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw ClusterError("\(path): no public keys") }
        return keys
    }

    static func keyFields(_ path: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ClusterError("\(path): cannot read the key file") }
        var fields: [String: String] = [:]
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            fields[line[..<eq].trimmingCharacters(in: .whitespaces)] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}

/// A worker's CURVE settings: its keypair and the coordinator's public key.
public struct ClientSecurity: Sendable {
    public var keys: CurveKeyPair
    public var serverKey: String

    public init(keys: CurveKeyPair, serverKey: String) {
        self.keys = keys
        self.serverKey = serverKey
    }

    /// Makes `socket` a CURVE client of the coordinator (before it connects).
    func apply(to socket: ZMQSocket) throws {
        try socket.setOption(.curveServerKey(serverKey))
        try socket.setOption(.curvePublicKey(keys.publicKey))
        try socket.setOption(.curveSecretKey(keys.secretKey))
    }
}

/// The coordinator's CURVE settings: its keypair and the workers' public keys it admits.
public struct ServerSecurity: Sendable {
    public var keys: CurveKeyPair
    public var authorized: [String]

    public init(keys: CurveKeyPair, authorized: [String]) {
        self.keys = keys
        self.authorized = authorized
    }

    /// Makes `socket` a CURVE server (before it binds).
    func apply(to socket: ZMQSocket) throws {
        try socket.setOption(.curveServer(true))
        try socket.setOption(.curveSecretKey(keys.secretKey))
    }
}

/// Writes text atomically with the given permissions (0600 for secret keys).
func writeAtomically(_ text: String, to path: String, permissions: Int) throws {
    do {
        try AtomicFile.write(text, to: path, permissions: mode_t(permissions))
    } catch let failure as AtomicFile.Failure {
        throw ClusterError("\(failure) (does the folder exist?)")
    }
}
