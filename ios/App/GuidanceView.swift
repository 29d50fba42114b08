import RoadsideCore
import SwiftUI

/// Discretion guidance (裁量基准) for the violations of a penalty draft, with the exemption banner.
struct GuidanceView: View {
    @ObservedObject var model: GuidanceModel
    @State private var code = ""
    @State private var popup: ViolationGuidance?

    var body: some View {
        NavigationStack {
            Form {
                ForEach(model.banners, id: \.code) { b in
                    Section {
                        Text(b.title).font(.headline)
                        ForEach(b.details, id: \.self) { Text("· \($0)") }
                    }.listRowBackground(Color.yellow.opacity(0.25))
                }
                Section("事实") {
                    TextField("车货总质量（千克）", value: $model.facts.grossWeightKg, format: .number)
                    TextField("轴数", value: Binding(get: { model.facts.axles.map(Int.init) }, set: { model.facts.axles = $0.map { UInt32(clamping: $0) } }), format: .number)
                }
                Section("违法行为") {
                    HStack {
                        TextField("编码，如 CX-43-2", text: $code)
                        Button("添加") { model.violations.append(code); code = "" }.disabled(code.isEmpty)
                    }
                    ForEach(model.guidance?.violations ?? [], id: \.code) { g in
                        Button { popup = g } label: {
                            VStack(alignment: .leading) {
                                Text("\(g.code) \(g.name)")
                                if let y = g.recommendedYuan { Text("建议罚款 \(y) 元").font(.caption) }
                            }
                        }
                    }
                }
                if let g = model.guidance {
                    Section("说理") { Text(g.reasoning).font(.callout) }
                }
                if let e = model.error { Section { Text("\(e.message)（\(e.code)）").foregroundStyle(.red) } }
            }
            .navigationTitle("处罚裁量")
            .sheet(item: Binding(get: { popup.map(Popup.init) }, set: { popup = $0?.g })) { p in
                GuidanceSheet(g: p.g)
            }
        }
    }

    private struct Popup: Identifiable { let g: ViolationGuidance; var id: String { g.code } }
}

private struct GuidanceSheet: View {
    let g: ViolationGuidance

    var body: some View {
        NavigationStack {
            List {
                if let min = g.minYuan, let max = g.maxYuan { Text("处罚幅度：\(min)—\(max) 元") }
                if let y = g.recommendedYuan { Text("建议罚款：\(y) 元\(g.fixedByFormula ? "（按公式计算）" : "")") }
                ForEach(g.reasons, id: \.self) { Text($0) }
                if !g.missingFacts.isEmpty { Text("还需要：" + g.missingFacts.joined(separator: "、")).foregroundStyle(.red) }
                Text("依据：\(g.basis)").font(.footnote)
            }
            .navigationTitle(g.name)
        }
    }
}
