import BackgroundTasks
import RoadsideCore
import SwiftUI

@main
struct RoadsideApp: App {
    @Environment(\.scenePhase) private var scenePhase
    @StateObject private var app = AppModel()

    init() {
        BackgroundSync.register()
    }

    var body: some Scene {
        WindowGroup {
            RootView().environmentObject(app)
        }
        .onChange(of: scenePhase) { phase in
            if phase == .background { BackgroundSync.schedule() }
        }
    }
}

/// Opens the core once (Keychain key) and owns the screens' models.
@MainActor
final class AppModel: ObservableObject {
    enum State {
        case opening
        case ready(CoreSession, InspectionFormModel, GuidanceModel, SyncModel)
        case failed(ShellError)
    }

    @Published private(set) var state: State = .opening

    init() { open() }

    func open() {
        state = .opening
        Task.detached(priority: .userInitiated) {
            do {
                let session = try CoreSession.openDefault()
                await MainActor.run {
                    BackgroundSync.session = session
                    let today = ISO8601DateFormatter.cst.string(from: Date()).prefix(10)
                    let facts = Facts(actDate: String(today), partyType: .person, age: nil, grossWeightKg: nil, axles: nil,
                                      combination: nil, singleDriveAxle: nil, overKg: nil, heightM: nil, widthM: nil,
                                      lengthM: nil, areaM2: nil, depthM: nil, illegalIncomeYuan: nil, count: nil,
                                      priorViolations: nil, firstOffenceCheckedOnline: false, flags: [],
                                      decisionDate: nil, filingDate: nil)
                    self.state = .ready(
                        session,
                        InspectionFormModel(session: session, record: blankRecord()),
                        GuidanceModel(session: session, facts: facts),
                        SyncModel(session: session)
                    )
                }
            } catch {
                await MainActor.run { self.state = .failed(ShellError(error)) }
            }
        }
    }
}

extension ISO8601DateFormatter {
    /// China Standard Time, seconds precision: the form's time fields.
    static let cst: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "Asia/Shanghai")
        f.formatOptions = [.withInternetDateTime]
        return f
    }()
}

func blankRecord() -> InspectionRecord {
    InspectionRecord(kind: .onSite, caseNumber: nil, place: Place(address: "", latitude: nil, longitude: nil),
                     startedAt: ISO8601DateFormatter.cst.string(from: Date()), endedAt: nil, officers: [],
                     recorder: "", party: nil, persons: [], vehicle: nil, situation: "", coerciveMeasure: nil,
                     partyConfirmation: nil, remarks: nil, inspection: nil)
}

struct RootView: View {
    @EnvironmentObject var app: AppModel

    var body: some View {
        switch app.state {
        case .opening:
            ProgressView("正在打开本机数据…")
        case let .failed(error):
            VStack(spacing: 12) {
                Text("无法打开本机数据（\(error.code)）").font(.headline)
                Text(error.message)
                Button("重试") { app.open() }
            }.padding()
        case let .ready(_, form, guidance, sync):
            TabView {
                InspectionFormView(model: form).tabItem { Label("笔录", systemImage: "doc.text") }
                GuidanceView(model: guidance).tabItem { Label("处罚", systemImage: "scalemass") }
                SyncStatusView(model: sync).tabItem { Label("同步", systemImage: "arrow.triangle.2.circlepath") }
            }
        }
    }
}
