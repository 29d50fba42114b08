import RoadsideCore
import SwiftUI

/// 现场笔录 with live validation: each field shows the core's issues for its path.
struct InspectionFormView: View {
    @ObservedObject var model: InspectionFormModel

    var body: some View {
        NavigationStack {
            Form {
                if let c = model.savedCase {
                    Section { Text("案件 \(c.caseNumber ?? c.id)：笔录 \(c.records) 份，证据 \(c.evidence) 件") }
                }
                Section("执法") {
                    field("执法地点", path: "place.address", text: Binding(get: { model.record.place.address }, set: { model.record.place.address = $0 }))
                    field("执法时间（起）", path: "started_at", text: $model.record.startedAt)
                    field("执法时间（止）", path: "ended_at", text: Binding(get: { model.record.endedAt ?? "" }, set: { model.record.endedAt = $0.isEmpty ? nil : $0 }))
                    ForEach(0..<2, id: \.self) { i in
                        field("执法人员\(i + 1)", path: "officers[\(i)].name", text: officer(i, \.name))
                        field("执法证号", path: "officers[\(i)].certificate_no", text: officer(i, \.certificateNo))
                    }
                    issues(model.issues["officers"] ?? [])
                    field("记录人", path: "recorder", text: $model.record.recorder)
                }
                Section("车辆") {
                    field("车牌号", path: "vehicle.plate", text: Binding(
                        get: { model.record.vehicle?.plate ?? "" },
                        set: { v in
                            var vehicle = model.record.vehicle ?? Vehicle(plate: "", vehicleType: "", axles: nil, grossWeightKg: nil, lengthM: nil, widthM: nil, heightM: nil)
                            vehicle.plate = v
                            model.record.vehicle = vehicle
                        }))
                }
                Section("现场情况") {
                    TextEditor(text: $model.record.situation).frame(minHeight: 120)
                    issues(model.issues(at: "situation"))
                }
                if let e = model.error { Section { Text("\(e.message)（\(e.code)）").foregroundStyle(.red) } }
                Section {
                    Button(model.savedCase == nil ? "保存并立案" : "保存笔录") { Task { await model.save() } }.disabled(!model.canSave)
                    Button("办结") { Task { await model.finalize() } }.disabled(model.savedCase?.status != .draft || model.busy)
                }
            }
            .navigationTitle("现场笔录")
        }
    }

    private func officer(_ i: Int, _ key: WritableKeyPath<OfficerRef, String>) -> Binding<String> {
        Binding(
            get: { i < model.record.officers.count ? model.record.officers[i][keyPath: key] : "" },
            set: { v in
                while model.record.officers.count <= i { model.record.officers.append(OfficerRef(name: "", certificateNo: "")) }
                model.record.officers[i][keyPath: key] = v
            })
    }

    @ViewBuilder
    private func field(_ label: String, path: String, text: Binding<String>) -> some View {
        VStack(alignment: .leading) {
            TextField(label, text: text)
            issues(model.issues(at: path))
        }
    }

    @ViewBuilder
    private func issues(_ list: [Issue]) -> some View {
        ForEach(list, id: \.self) { Text($0.message).font(.caption).foregroundStyle(.red) }
    }
}
