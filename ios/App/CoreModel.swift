import Foundation
import RoadsideCore

/// What a screen shows for a failed core call: the stable code and the Chinese message.
struct ShellError: Error, Equatable {
    let code: String
    let message: String
    var issues: [Issue] = []

    init(_ error: Error) {
        if let e = error as? RoadsideError {
            // Every core error, whatever its category (e.kind()), carries its code in one place.
            code = e.code(); message = e.reason(); issues = e.issues()
        } else {
            // A panic in the core arrives as an unexpected error, never a crash.
            code = "CORE_PANIC"; message = "程序内部错误，请重试；如仍出现请联系技术支持（\(error)）"
        }
    }
}

/// The core opened for the app process, and the work queue blocking core calls run on.
final class CoreSession: @unchecked Sendable {
    let core: RoadsideCore
    let rules: RulesEngine
    private let queue = DispatchQueue(label: "cn.roadside.core", qos: .userInitiated, attributes: .concurrent)

    init(dataDir: URL, secrets: SecretProvider) throws {
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        core = try RoadsideCore.open(dataDir: dataDir.path, secrets: secrets)
        rules = try RulesEngine.open(dataDir: dataDir.path)
    }

    /// Runs a blocking core call off the main thread.
    func call<T>(_ body: @escaping (RoadsideCore) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            queue.async { cont.resume(with: Result { try body(self.core) }) }
        }
    }

    func rulesCall<T>(_ body: @escaping (RulesEngine) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            queue.async { cont.resume(with: Result { try body(self.rules) }) }
        }
    }

    static func openDefault() throws -> CoreSession {
        let support = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        let dir = support.appendingPathComponent("core", isDirectory: true)
        let session = try CoreSession(dataDir: dir, secrets: KeychainSecretProvider())
        // The store holds evidence hashes and the device key: keep it out of iCloud backups.
        var url = dir
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try? url.setResourceValues(values)
        return session
    }
}

/// The inspection form with live validation: each edit is validated by the core; issues per field path.
@MainActor
final class InspectionFormModel: ObservableObject {
    @Published var record: InspectionRecord { didSet { scheduleValidation() } }
    @Published private(set) var issues: [String: [Issue]] = [:]
    @Published private(set) var savedCase: CaseSummary?
    @Published private(set) var error: ShellError?
    @Published private(set) var busy = false

    private let session: CoreSession
    private var validation: Task<Void, Never>?

    init(session: CoreSession, record: InspectionRecord) {
        self.session = session
        self.record = record
        scheduleValidation()
    }

    func issues(at path: String) -> [Issue] {
        issues.filter { $0.key == path || $0.key.hasPrefix(path + ".") || $0.key.hasPrefix(path + "[") }.flatMap(\.value)
    }

    var canSave: Bool { issues.isEmpty && !busy && validation == nil }

    private func scheduleValidation() {
        validation?.cancel()
        let draft = record
        validation = Task { [session] in
            let result = await attempt { try await session.call { try $0.validateRecord(record: draft) } }
            guard !Task.isCancelled else { return }
            switch result {
            case let .success(found): issues = Dictionary(grouping: found, by: \.path); error = nil
            case let .failure(e): error = ShellError(e)
            }
            validation = nil
        }
    }

    func save() async {
        busy = true
        defer { busy = false }
        let draft = record
        do {
            if let existing = savedCase {
                _ = try await session.call { try $0.addRecord(caseId: existing.id, record: draft) }
                savedCase = try await session.call { try $0.caseDetail(caseId: existing.id) }.summary
            } else {
                savedCase = try await session.call { try $0.createCase(record: draft) }
            }
            error = nil
        } catch {
            let e = ShellError(error)
            self.error = e
            for (path, list) in Dictionary(grouping: e.issues, by: \.path) { issues[path] = list }
        }
    }

    func finalize() async {
        guard let c = savedCase else { return }
        busy = true
        defer { busy = false }
        do { savedCase = try await session.call { try $0.finalizeCase(caseId: c.id) }; error = nil } catch { self.error = ShellError(error) }
    }
}

/// The outcome of an async throwing call as a value.
func attempt<T>(_ body: () async throws -> T) async -> Result<T, Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Discretion guidance for the penalty being drafted, with the exemption banner.
@MainActor
final class GuidanceModel: ObservableObject {
    @Published var violations: [String] = [] { didSet { refresh() } }
    @Published var facts: Facts { didSet { refresh() } }
    @Published private(set) var guidance: Guidance?
    @Published private(set) var error: ShellError?
    private let session: CoreSession
    private var task: Task<Void, Never>?

    init(session: CoreSession, facts: Facts) {
        self.session = session
        self.facts = facts
    }

    /// Banners for violations on the exemption list (免罚清单).
    var banners: [(code: String, title: String, details: [String])] {
        (guidance?.violations ?? []).compactMap { g in
            switch g.exemption.status {
            case .notListed: return nil
            case .eligible: return (g.code, "\(g.name)：符合免予处罚条件", g.exemption.documents)
            case .needsOnlineCheck: return (g.code, "\(g.name)：可能适用首违不罚，须联网核实是否初次违法", g.exemption.pending)
            case .notEligible: return (g.code, "\(g.name)：列入免罚清单，但以下条件不满足", g.exemption.unmet)
            case .mustNotPenalise: return (g.code, "\(g.name)：依法不予行政处罚", g.exemption.unmet)
            }
        }
    }

    private func refresh() {
        task?.cancel()
        guard !violations.isEmpty else { guidance = nil; return }
        let request = GuidanceRequest(violations: violations, facts: facts)
        task = Task { [session] in
            let r = await attempt { try await session.rulesCall { try $0.guide(request: request) } }
            guard !Task.isCancelled else { return }
            switch r {
            case let .success(g): guidance = g; error = nil
            case let .failure(e): error = ShellError(e)
            }
        }
    }
}

/// Sync status with progress and cancel.
@MainActor
final class SyncModel: ObservableObject {
    @Published private(set) var status: SyncStatus?
    @Published private(set) var progress: SyncProgress?
    @Published private(set) var running = false
    @Published private(set) var error: ShellError?
    private let session: CoreSession
    private var handle: SyncHandle?

    init(session: CoreSession) { self.session = session }

    func refresh() async {
        do { status = try await session.call { try $0.syncStatus() } } catch { self.error = ShellError(error) }
    }

    func start() {
        guard !running else { return }
        running = true
        error = nil
        let observer = ProgressRelay { [weak self] p in Task { @MainActor in self?.progress = p } }
        Task {
            do {
                let h = try await session.call { core in try core.startSync(options: nil, observer: observer) }
                handle = h
                _ = try await session.call { _ in try h.join() }
            } catch {
                self.error = ShellError(error)
            }
            handle = nil
            running = false
            await refresh()
        }
    }

    func cancel() { handle?.cancel() }
}

/// Forwards the core's progress callbacks (called on a core thread) to a closure.
final class ProgressRelay: SyncObserver, @unchecked Sendable {
    private let body: (SyncProgress) -> Void
    init(_ body: @escaping (SyncProgress) -> Void) { self.body = body }
    func onProgress(progress: SyncProgress) { body(progress) }
}
