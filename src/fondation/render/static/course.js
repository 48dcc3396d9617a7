// Draws the page's mermaid diagrams once it has loaded. mermaid's own startOnLoad is off because this
// script renders each block itself: a diagram mermaid cannot draw keeps its source on the page, under a
// visible note, instead of turning blank or into an error picture. securityLevel 'strict' keeps model-written
// labels from carrying HTML or click handlers. When every block is done, <html data-diagrams="done">.
(function () {
  'use strict';

  function showSource(block, source, reason) {
    const note = document.createElement('p');
    note.className = 'diagram-error-note';
    note.textContent = 'This diagram could not be drawn (' + reason + '). Its source:';
    const pre = document.createElement('pre');
    pre.className = 'diagram-source';
    pre.textContent = source;
    const box = document.createElement('div');
    box.className = 'diagram-error';
    box.append(note, pre);
    block.replaceWith(box);
  }

  async function drawDiagrams() {
    const blocks = Array.from(document.querySelectorAll('pre.mermaid'));
    if (typeof mermaid === 'undefined') {
      blocks.forEach((block) => showSource(block, block.textContent, 'mermaid.min.js did not load'));
    } else {
      mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', suppressErrorRendering: true });
      for (const [index, block] of blocks.entries()) {
        const source = block.textContent;
        try {
          const { svg } = await mermaid.render('diagram-' + index, source);
          block.innerHTML = svg;
          block.className = 'diagram';
        } catch (error) {
          showSource(block, source, String((error && error.message) || error).split('\n')[0]);
        }
      }
    }
    document.documentElement.dataset.diagrams = 'done';
  }

  drawDiagrams();
})();
