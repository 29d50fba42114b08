//! Fonts for the document renderer from the platform.
//!
//! No font is compiled into the library; the shell hands over a system font that covers Simplified
//! Chinese. On Android: the bytes of `/system/fonts/NotoSansCJK-Regular.ttc`, a collection whose
//! Simplified Chinese face ("Noto Sans CJK SC") the core finds by name when the index given is
//! `u32::MAX` (`UInt.MAX_VALUE` in Kotlin). On iOS: the bytes of the system's PingFang collection
//! (PingFang SC), likewise with `UInt32.max` or the SC face's index.

use std::sync::Arc;

use super::PlatformError;
use crate::document::fonts::simplified_chinese_face;
use crate::document::{FontData, FontSource};
use crate::error::{ErrorKind, Result, RoadsideError};

/// Supplies the CJK font documents are set in, from the platform's own fonts.
#[uniffi::export(with_foreign)]
pub trait PlatformFonts: Send + Sync {
    /// The bytes of the font file (a single font or a collection).
    fn cjk_font(&self) -> std::result::Result<Vec<u8>, PlatformError>;
    /// The face to use inside a collection; 0 for a single font; `u32::MAX` to let the core pick
    /// the Simplified Chinese face by its name.
    fn cjk_font_index(&self) -> u32;
}

/// A [`PlatformFonts`] as the renderer's [`FontSource`].
pub struct PlatformFontSource(pub Arc<dyn PlatformFonts>);

impl FontSource for PlatformFontSource {
    fn cjk_font(&self) -> Result<FontData> {
        let bytes = self.0.cjk_font().map_err(|e| {
            let e = RoadsideError::from(e);
            RoadsideError::new(
                ErrorKind::NotFound,
                "FONT_MISSING",
                format!("系统中文字体无法读取：{}", e.message()),
            )
        })?;
        let index = match self.0.cjk_font_index() {
            u32::MAX => simplified_chinese_face(&bytes)?,
            i => i,
        };
        Ok(FontData {
            bytes: Arc::new(bytes),
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Renderer, SystemFonts};

    struct Fixed(Option<FontData>);

    impl PlatformFonts for Fixed {
        fn cjk_font(&self) -> std::result::Result<Vec<u8>, PlatformError> {
            self.0
                .as_ref()
                .map(|f| f.bytes.to_vec())
                .ok_or_else(|| PlatformError::Failed {
                    code: "FONT_FILE_UNREADABLE".to_string(),
                    message: "无法打开字体文件".to_string(),
                })
        }
        fn cjk_font_index(&self) -> u32 {
            u32::MAX
        }
    }

    #[test]
    fn a_platform_font_feeds_the_renderer_and_a_failure_is_font_missing() {
        let e = Renderer::new(&PlatformFontSource(Arc::new(Fixed(None)))).unwrap_err();
        assert_eq!(e.code(), "FONT_MISSING");
        assert!(e.message().contains("无法打开字体文件"), "{}", e.message());
        // With the desktop's Noto CJK (absent on a machine without fonts-noto-cjk).
        let Ok(system) = SystemFonts::new().cjk_font() else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "fonts-noto-cjk is required under CI"
            );
            return;
        };
        let expected = system.index;
        let source = PlatformFontSource(Arc::new(Fixed(Some(system))));
        assert_eq!(source.cjk_font().expect("font").index, expected);
        Renderer::new(&source).expect("renderer");
    }
}
