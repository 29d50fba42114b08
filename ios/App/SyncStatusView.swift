import RoadsideCore
import SwiftUI

/// Sync status: outbox, refusals with reasons, uploads, progress of a running sync, cancel.
struct SyncStatusView: View {
    @ObservedObject var model: SyncModel

    var body: some View {
        NavigationStack {
            List {
                if let s = model.status {
                    if let e = s.enrolment {
                        Text("服务器：\(e.serverUrl)")
                        Text("待上传记录 \(s.outboxLen) 条，已获回执 \(s.receipts) 条")
                        Text("待上传证据 \(s.pendingUploads.count) 件")
                        if let at = s.lastSyncAt { Text("上次同步：\(at)") }
                        if s.clockWarning { Text("设备时间与服务器相差超过 5 分钟，请校准时间").foregroundStyle(.red) }
                        ForEach(s.problems, id: \.entrySeq) { p in Text("第 \(p.entrySeq) 条被拒：\(p.message)（\(p.code)）").foregroundStyle(.red) }
                    } else {
                        Text("本设备尚未登记到执法服务器，请联系管理员获取登记码。")
                    }
                }
                if model.running, let p = model.progress {
                    ProgressView(value: p.bytesTotal > 0 ? Double(p.bytesDone) / Double(p.bytesTotal)
                                 : p.recordsTotal > 0 ? Double(p.recordsDone) / Double(p.recordsTotal) : 0)
                    Text("记录 \(p.recordsDone)/\(p.recordsTotal)，证据 \(p.bytesDone)/\(p.bytesTotal) 字节").font(.caption)
                }
                if let e = model.error { Text("\(e.message)（\(e.code)）").foregroundStyle(.red) }
                HStack {
                    Button("立即同步") { model.start() }.disabled(model.running || model.status?.enrolment == nil)
                    Button("取消") { model.cancel() }.disabled(!model.running)
                }
            }
            .navigationTitle("同步")
            .task { await model.refresh() }
            .refreshable { await model.refresh() }
        }
    }
}
