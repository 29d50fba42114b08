package cn.roadside.app

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.io.File
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import uniffi.roadside_core.PlatformException
import uniffi.roadside_core.SecretProvider

/**
 * The database key, kept by Android Keystore.
 *
 * A random 32-byte database key is generated once and stored in the app's private files *wrapped*:
 * encrypted with AES-256-GCM under a key that lives in AndroidKeyStore (hardware-backed where the
 * device has it) and never leaves it. File layout: `version(1) | iv(12) | ciphertext+tag(48)`.
 * The core asks for the key when it opens the store and keeps it only in memory.
 */
class KeystoreSecretProvider(
    private val wrappedKeyFile: File,
    private val alias: String = "roadside-db-wrap",
) : SecretProvider {

    override fun databaseKey(): ByteArray = synchronized(lock) {
        try {
            if (wrappedKeyFile.exists()) unwrap(wrappedKeyFile.readBytes()) else createKey()
        } catch (e: PlatformException) {
            throw e
        } catch (e: android.security.keystore.UserNotAuthenticatedException) {
            throw PlatformException.Key("KEYSTORE_LOCKED", "设备尚未解锁，无法读取数据库密钥；请解锁后重试")
        } catch (e: java.security.GeneralSecurityException) {
            throw PlatformException.Key(
                "KEYSTORE_UNWRAP_FAILED",
                "无法用密钥库解开数据库密钥（${e.javaClass.simpleName}）；如刚恢复过系统，请联系管理员重新登记设备",
            )
        } catch (e: java.io.IOException) {
            throw PlatformException.Key("KEY_FILE_UNREADABLE", "读取数据库密钥文件失败：${wrappedKeyFile.path}（${e.message}）")
        }
    }

    private fun createKey(): ByteArray {
        val dbKey = ByteArray(32).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey())
        val sealed = byteArrayOf(VERSION) + cipher.iv + cipher.doFinal(dbKey)
        // Write-then-rename so a crash never leaves half a key file.
        val tmp = File(wrappedKeyFile.parentFile, wrappedKeyFile.name + ".tmp")
        tmp.writeBytes(sealed)
        check(tmp.renameTo(wrappedKeyFile)) { "rename ${tmp.path}" }
        return dbKey
    }

    private fun unwrap(sealed: ByteArray): ByteArray {
        if (sealed.size != 1 + IV_BYTES + 32 + TAG_BYTES || sealed[0] != VERSION) {
            throw PlatformException.Key("KEY_FILE_CORRUPT", "数据库密钥文件已损坏：${wrappedKeyFile.path}")
        }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(
            Cipher.DECRYPT_MODE,
            existingWrappingKey(),
            GCMParameterSpec(TAG_BYTES * 8, sealed, 1, IV_BYTES),
        )
        return cipher.doFinal(sealed, 1 + IV_BYTES, sealed.size - 1 - IV_BYTES)
    }

    private fun keyStore(): KeyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }

    private fun existingWrappingKey(): SecretKey =
        (keyStore().getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.secretKey
            ?: throw PlatformException.Key(
                "KEYSTORE_KEY_MISSING",
                "密钥库中没有数据库包装密钥（应用数据可能是从其他设备恢复的）；请联系管理员重新登记设备",
            )

    private fun wrappingKey(): SecretKey {
        (keyStore().getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.let { return it.secretKey }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .setRandomizedEncryptionRequired(true)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val VERSION: Byte = 1
        const val IV_BYTES = 12
        const val TAG_BYTES = 16
        val lock = Any()
    }
}
