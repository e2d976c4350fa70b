// VoxPortrait in the Stable Diffusion WebUI (A1111 and Forge load every
// extension's javascript/*.js). The WebUI's paste-params binding calls
// switch_to_<tab id>() after "Send to VoxPortrait" has put the image into
// the tab's portrait input; this opens the tab.
function switch_to_voxportrait() {
    var app = gradioApp();
    var tabs = app.querySelector('#tabs');
    if (tabs) {
        var buttons = Array.from(tabs.querySelectorAll('button'));
        var button = buttons.find(function(b) {
            return b.textContent.trim() === 'VoxPortrait';
        });
        if (!button) {
            // Tab buttons are in the order of the tab items.
            var items = Array.from(tabs.querySelectorAll(':scope > .tabitem, :scope > div > .tabitem'));
            var index = items.findIndex(function(item) {
                return item.id === 'tab_voxportrait';
            });
            if (index >= 0) button = buttons[index];
        }
        if (button) button.click();
    }
    return Array.from(arguments);
}
