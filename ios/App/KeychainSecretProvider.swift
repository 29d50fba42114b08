import Foundation
import RoadsideCore
import Security

/// The database key, kept in the iOS Keychain.
///
/// A random 32-byte key is created on first start (SecRandomCopyBytes) and stored as a generic
/// password item readable only on this device after its first unlock (so background sync works
/// while the phone is locked), never synced to iCloud and never included in backups that leave
/// the device. The core asks for it when it opens the store and keeps it only in memory.
final class KeychainSecretProvider: SecretProvider, @unchecked Sendable {
    private let service: String
    private let account = "roadside-db-key"
    private let lock = NSLock()

    init(service: String = Bundle.main.bundleIdentifier ?? "cn.roadside.app") {
        self.service = service
    }

    func databaseKey() throws -> Data {
        lock.lock()
        defer { lock.unlock() }
        if let existing = try read() { return existing }
        var bytes = Data(count: 32)
        let rc = bytes.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard rc == errSecSuccess else {
            throw PlatformError.Key(code: "KEYCHAIN_RANDOM_FAILED", message: "无法生成数据库密钥（SecRandomCopyBytes \(rc)）")
        }
        try store(bytes)
        return bytes
    }

    private var query: [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
    }

    private func read() throws -> Data? {
        var q = query
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var out: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &out)
        switch status {
        case errSecSuccess:
            guard let data = out as? Data, data.count == 32 else {
                throw PlatformError.Key(code: "KEYCHAIN_KEY_CORRUPT", message: "钥匙串中的数据库密钥已损坏")
            }
            return data
        case errSecItemNotFound:
            return nil
        case errSecInteractionNotAllowed:
            throw PlatformError.Key(code: "KEYCHAIN_LOCKED", message: "设备重启后尚未解锁，无法读取数据库密钥；请解锁后重试")
        default:
            throw PlatformError.Key(code: "KEYCHAIN_READ_FAILED", message: "读取钥匙串失败（OSStatus \(status)）")
        }
    }

    private func store(_ key: Data) throws {
        var q = query
        q[kSecValueData as String] = key
        q[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        q[kSecAttrSynchronizable as String] = false
        let status = SecItemAdd(q as CFDictionary, nil)
        guard status == errSecSuccess else {
            throw PlatformError.Key(code: "KEYCHAIN_WRITE_FAILED", message: "写入钥匙串失败（OSStatus \(status)）")
        }
    }
}
