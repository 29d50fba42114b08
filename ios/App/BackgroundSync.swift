import BackgroundTasks
import RoadsideCore

/// Background sync with BGTaskScheduler: a processing task that needs the network. When iOS ends the
/// task early, the expiration handler cancels the core's sync; everything already acknowledged stays
/// stored and the next run continues. The identifier must be listed in Info.plist under
/// `BGTaskSchedulerPermittedIdentifiers`.
enum BackgroundSync {
    static let identifier = "cn.roadside.app.sync"
    /// Set once the app has opened the core.
    static var session: CoreSession?

    static func register() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            // swiftlint:disable:next force_cast
            run(task as! BGProcessingTask)
        }
    }

    static func schedule() {
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresNetworkConnectivity = true
        request.requiresExternalPower = false
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }

    private static func run(_ task: BGProcessingTask) {
        schedule()  // the next one
        let session: CoreSession
        do {
            session = try Self.session ?? CoreSession.openDefault()
        } catch {
            task.setTaskCompleted(success: false)
            return
        }
        let handle: SyncHandle
        do {
            guard try session.core.syncStatus().enrolment != nil else {
                task.setTaskCompleted(success: true)
                return
            }
            handle = try session.core.startSync(options: nil, observer: nil)
        } catch {
            task.setTaskCompleted(success: false)
            return
        }
        task.expirationHandler = { handle.cancel() }
        DispatchQueue.global(qos: .utility).async {
            let ok = (try? handle.join()) != nil
            task.setTaskCompleted(success: ok)
        }
    }
}
