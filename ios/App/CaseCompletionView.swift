import CoreText
import PDFKit
import RoadsideCore
import SwiftUI
import UIKit

/// The system's PingFang SC for the core's document renderer: the font file behind the system font,
/// the Simplified Chinese face picked by the core (`UInt32.max`).
final class SystemCJKFonts: PlatformFonts {
    func cjkFont() throws -> Data {
        let font = CTFontCreateWithName("PingFangSC-Regular" as CFString, 12, nil)
        guard let url = CTFontCopyAttribute(font, kCTFontURLAttribute) as? URL else {
            throw PlatformError.Failed(code: "FONT_FILE_UNREADABLE", message: "找不到系统中文字体（苹方）")
        }
        return try Data(contentsOf: url)
    }

    func cjkFontIndex() -> UInt32 { UInt32.max }
}

/// The end of a case: progress from the core, the party's signature on the pad (stroke data with
/// time and pressure), the document issued by the core — its hash in the ledger before the preview
/// shows it — and printing of those exact bytes.
@MainActor
final class CaseCompletionModel: ObservableObject {
    let session: CoreSession
    let caseId: String
    @Published private(set) var progress: CaseProgress?
    @Published private(set) var document: IssuedDocument?
    @Published private(set) var error: ShellError?
    @Published private(set) var busy = false

    init(session: CoreSession, caseId: String) {
        self.session = session
        self.caseId = caseId
    }

    func refresh() async {
        let id = caseId
        progress = try? await session.call { try $0.caseProgress(caseId: id) }
    }

    private func act<T>(_ body: @escaping (RoadsideCore) throws -> T) async -> T? {
        busy = true
        defer { busy = false }
        do {
            let value = try await session.call(body)
            error = nil
            await refresh()
            return value
        } catch {
            self.error = ShellError(error)
            return nil
        }
    }

    func decide(_ input: PenaltyDecisionInput) async {
        let (id, rules) = (caseId, session.rules)
        _ = await act { try $0.decidePenalty(caseId: id, rules: rules, input: input) }
    }

    func issue(_ doc: DocType, signatures: [SignatureInput], renderer: DocumentRenderer, source: String? = nil) async {
        let id = caseId
        if let d = await act({ try $0.issueDocument(caseId: id, doc: doc, source: source, signatures: signatures, renderer: renderer) }) {
            document = d
        }
    }

    func deliver(_ input: DeliveryInput) async {
        let id = caseId
        _ = await act { try $0.recordDelivery(caseId: id, input: input) }
    }

    func close(_ reason: CloseReason, note: String = "") async {
        let id = caseId
        _ = await act { try $0.closeCase(caseId: id, input: CloseInput(reason: reason, note: note)) }
    }
}

/// A signature pad: each touch's position, time since the first touch and force (0…1) as the core's
/// stroke JSON (`{"width","height","strokes":[[{"x","y","t_ms","pressure"}]]}`).
struct SignaturePad: UIViewRepresentable {
    @Binding var json: String?

    func makeUIView(context: Context) -> PadView {
        let v = PadView()
        v.onChange = { json = $0 }
        return v
    }

    func updateUIView(_ uiView: PadView, context: Context) {
        if json == nil { uiView.clear() }
    }

    final class PadView: UIView {
        var onChange: ((String?) -> Void)?
        private var strokes: [[(CGPoint, UInt32, CGFloat)]] = []
        private var t0: TimeInterval?

        override init(frame: CGRect) {
            super.init(frame: frame)
            backgroundColor = .white
            layer.borderWidth = 1
            layer.borderColor = UIColor.gray.cgColor
        }

        required init?(coder: NSCoder) { fatalError("not used from a storyboard") }

        func clear() {
            strokes = []
            t0 = nil
            setNeedsDisplay()
        }

        private func add(_ touch: UITouch, newStroke: Bool) {
            let t = touch.timestamp
            let start = t0 ?? t
            t0 = start
            let force = touch.maximumPossibleForce > 0 ? touch.force / touch.maximumPossibleForce : 0.5
            let p = touch.location(in: self)
            let point = (CGPoint(x: min(max(p.x, 0), bounds.width), y: min(max(p.y, 0), bounds.height)),
                         UInt32((t - start) * 1000), min(max(force, 0), 1))
            if newStroke { strokes.append([point]) } else if !strokes.isEmpty { strokes[strokes.count - 1].append(point) }
            setNeedsDisplay()
        }

        override func touchesBegan(_ touches: Set<UITouch>, with event: UIEvent?) {
            if let t = touches.first { add(t, newStroke: true) }
        }

        override func touchesMoved(_ touches: Set<UITouch>, with event: UIEvent?) {
            guard let t = touches.first else { return }
            for c in event?.coalescedTouches(for: t) ?? [t] { add(c, newStroke: false) }
        }

        override func touchesEnded(_ touches: Set<UITouch>, with event: UIEvent?) { onChange?(toJSON()) }

        override func draw(_ rect: CGRect) {
            let path = UIBezierPath()
            path.lineWidth = 2.5
            for s in strokes {
                guard let first = s.first else { continue }
                path.move(to: first.0)
                for p in s.dropFirst() { path.addLine(to: p.0) }
            }
            UIColor.black.setStroke()
            path.stroke()
        }

        func toJSON() -> String? {
            guard strokes.contains(where: { !$0.isEmpty }) else { return nil }
            let body = strokes.filter { !$0.isEmpty }.map { s in
                "[" + s.map { "{\"x\":\(Float($0.0.x)),\"y\":\(Float($0.0.y)),\"t_ms\":\($0.1),\"pressure\":\(Float($0.2))}" }.joined(separator: ",") + "]"
            }.joined(separator: ",")
            return "{\"width\":\(Float(bounds.width)),\"height\":\(Float(bounds.height)),\"strokes\":[\(body)]}"
        }
    }
}

/// The issued PDF, shown by PDFKit from the exact bytes.
struct PDFPreview: UIViewRepresentable {
    let data: Data

    func makeUIView(context: Context) -> PDFView {
        let v = PDFView()
        v.autoScales = true
        v.document = PDFDocument(data: data)
        return v
    }

    func updateUIView(_ uiView: PDFView, context: Context) {
        uiView.document = PDFDocument(data: data)
    }
}

struct CaseCompletionView: View {
    @ObservedObject var model: CaseCompletionModel
    let renderer: DocumentRenderer
    @State private var signature: String?

    var body: some View {
        Form {
            Section("进度") {
                switch model.progress?.next {
                case .finalize?: Text("下一步：完成并定稿笔录")
                case .decide?: Text("下一步：作出决定（或先送达违法行为通知书）")
                case .deliver?: Text("下一步：送达 \(model.progress?.undelivered.joined(separator: "、") ?? "")")
                case .pay?: Text("下一步：登记缴款（应缴 \(model.progress?.totalYuan ?? 0) 元）")
                case .releaseMeasure?: Text("下一步：解除强制措施")
                case .close?: Text("下一步：结案")
                case .done?: Text("本案已办结")
                case nil: Text("正在读取…")
                }
            }
            Section("当事人签名") {
                SignaturePad(json: $signature).frame(height: 160)
                Button("重签") { signature = nil }
            }
            Section {
                Button("生成决定书") {
                    Task {
                        let now = ISO8601DateFormatter().string(from: Date())
                        let sig = SignatureInput(role: "当事人", name: "", strokesJson: signature, refused: nil, witness: nil, signedAt: now)
                        let doc: DocType = model.progress?.penalised == true ? .summaryDecision : .noPenaltyDecision
                        await model.issue(doc, signatures: [sig], renderer: renderer)
                    }
                }.disabled(model.busy || model.progress?.decisionNumber == nil)
            }
            if let e = model.error {
                Section {
                    Text("\(e.message)（\(e.code)）").foregroundStyle(.red)
                    ForEach(e.issues, id: \.path) { Text("· \($0.message)").foregroundStyle(.red) }
                }
            }
            if let d = model.document {
                Section(d.number) {
                    Text("SHA-256 \(d.sha256.prefix(16))…").font(.caption)
                    Button("打印") {
                        let c = UIPrintInteractionController.shared
                        let info = UIPrintInfo(dictionary: nil)
                        info.jobName = d.number
                        info.outputType = .general
                        c.printInfo = info
                        c.printingItem = d.pdf
                        c.present(animated: true)
                    }
                    PDFPreview(data: d.pdf).frame(height: 480)
                }
            }
        }
        .task { await model.refresh() }
    }
}
